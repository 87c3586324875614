//! The one request path: every GraphQL operation passes here, whichever
//! way it came — an HTTP POST, an HTTP GET, or a `subscribe` message on a
//! socket — and in the same order:
//!
//! 1. [`enter`]: the per-IP limit, [`super::auth::authenticate`], the
//!    per-user limit, and [`super::auth::check_live`] (each operation is
//!    charged, not each connection);
//! 2. [`admit_document`]: the document limits, from the text before parsing
//!    and then from the parsed document (`crate::graphql::limits::admit`);
//! 3. [`with_caller`]: the caller and fresh loaders go into the request's
//!    data, and the schema runs it.

use std::net::IpAddr;
use std::time::Duration;

use async_graphql::ServerError;

use crate::graphql::context::Session;
use crate::graphql::loaders::Loaders;
use crate::policy::Actor;

use super::Shared;
use super::auth::{self, Credential, LiveError};
use super::limits;
use super::refusal::Refusal;

/// Lets the caller of one operation in, or says why not (counted in the
/// metrics by its code).
pub async fn enter(shared: &Shared, ip: IpAddr, credential: &Credential) -> Result<Actor, Refusal> {
    let entered = async {
        limits::charge_ip(&shared.limits, ip)?;
        let actor = auth::authenticate(&shared.state, credential)?;
        if let Actor::User(user_id) = actor {
            limits::charge_user(&shared.limits, user_id)?;
            live(shared, user_id).await?;
        }
        Ok::<Actor, Refusal>(actor)
    }
    .await;
    if let Err(refusal) = &entered {
        refused(shared, &refusal.code());
    }
    entered
}

/// Whether the caller of `credential` may still act, without charging a
/// limit: what a socket checks between operations.
pub async fn still_valid(shared: &Shared, credential: &Credential) -> Result<Actor, Refusal> {
    let actor = auth::authenticate(&shared.state, credential)?;
    if let Actor::User(user_id) = actor {
        live(shared, user_id).await?;
    }
    Ok(actor)
}

async fn live(shared: &Shared, user_id: uuid::Uuid) -> Result<(), Refusal> {
    auth::check_live(&shared.state, user_id)
        .await
        .map_err(|err| match err {
            LiveError::Revoked(refusal) => refusal,
            LiveError::Unavailable(err) => Refusal::unavailable(err),
        })
}

/// The document limits of the operation (see `crate::graphql::limits`):
/// refused from the text before it is parsed, then from the parsed
/// document, which `request` keeps for the schema.
/// Its refusal is answered (and counted) like the schema's own validation
/// errors.
pub fn admit_document(request: &mut async_graphql::Request) -> Result<(), ServerError> {
    crate::graphql::limits::admit(request)
}

/// The request with its caller and its own loaders (a loader's cache lives
/// for one operation, so nothing leaks between callers or over time).
pub fn with_caller(
    shared: &Shared,
    actor: Actor,
    request: async_graphql::Request,
) -> async_graphql::Request {
    request.data(Session(actor)).data(Loaders::new(
        &shared.state.db,
        Duration::from_millis(shared.state.settings.loader_delay_ms),
    ))
}

/// Counts a refusal in the metrics by its code.
pub fn refused(shared: &Shared, code: &str) {
    shared
        .metrics
        .observe(None, Duration::ZERO, std::iter::once(code));
}
