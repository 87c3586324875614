//! Who is calling: [`authenticate`] is the one function that turns a
//! credential — the `Authorization` header of an HTTP request, or the
//! `connection_init` payload of a socket — into the current user, and
//! [`check_live`] is the one liveness check (the user still exists and has
//! not erased their account), cached for [`crate::auth::live::RECHECK_AFTER`].
//!
//! Both run for every operation (`super::gate`), and a socket runs them
//! again every [`super::socket::RECHECK_EVERY`] between operations, so an
//! expired token or an erased user stops working on a socket as it does
//! over HTTP.
//!
//! Login lockout (`service::auth`, failed passwords) does not revoke the
//! sessions already open: otherwise anyone could log a user out by
//! guessing wrong passwords for their phone.

use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::policy::Actor;
use crate::state::AppState;

use super::refusal::Refusal;

/// What a client sent to say who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing: the anonymous caller.
    Anonymous,
    /// A bearer access token.
    Bearer(String),
    /// Something that is not a bearer token.
    Malformed,
}

impl Credential {
    /// From the `Authorization: Bearer …` header.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Credential::Anonymous;
        };
        value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|token| Credential::Bearer(token.trim().to_string()))
            .unwrap_or(Credential::Malformed)
    }

    /// From a socket's `connection_init` payload:
    /// `{"Authorization": "Bearer …"}` or `{"token": "…"}`.
    pub fn from_init_payload(payload: &Value) -> Self {
        let header = payload
            .get("Authorization")
            .or_else(|| payload.get("authorization"));
        if let Some(value) = header {
            return match value.as_str().and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            }) {
                Some(token) => Credential::Bearer(token.trim().to_string()),
                None => Credential::Malformed,
            };
        }
        match payload.get("token") {
            None | Some(Value::Null) => Credential::Anonymous,
            Some(Value::String(token)) => Credential::Bearer(token.trim().to_string()),
            Some(_) => Credential::Malformed,
        }
    }
}

/// The current user of `credential`, or why the credential is refused
/// (TOKEN_EXPIRED, TOKEN_INVALID).
pub fn authenticate(state: &AppState, credential: &Credential) -> Result<Actor, Refusal> {
    match credential {
        Credential::Anonymous => Ok(Actor::Anonymous),
        Credential::Malformed => Err(Refusal::token(crate::auth::jwt::TokenError::Invalid)),
        Credential::Bearer(token) => state
            .jwt
            .verify(token)
            .map(Actor::User)
            .map_err(Refusal::token),
    }
}

/// Whether the token's user may still act: SESSION_REVOKED when they erased
/// their account (or are gone). Looked up at most once per
/// [`crate::auth::live::RECHECK_AFTER`] per user on this process; an erasure
/// here forgets the user at once.
pub async fn check_live(state: &AppState, user_id: Uuid) -> Result<(), LiveError> {
    if state.live_sessions.recently_live(user_id, Instant::now()) {
        return Ok(());
    }
    match crate::service::auth::session_user_is_live(&state.db, user_id).await {
        Ok(true) => {
            state.live_sessions.mark_live(user_id, Instant::now());
            Ok(())
        }
        Ok(false) => Err(LiveError::Revoked(Refusal::session_revoked())),
        Err(err) => Err(LiveError::Unavailable(err)),
    }
}

/// Why [`check_live`] did not pass.
#[derive(Debug)]
pub enum LiveError {
    /// The user is erased or gone.
    Revoked(Refusal),
    /// The database could not say (answered like any request while it is down).
    Unavailable(ServiceError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn a_credential_is_read_alike_from_a_header_and_an_init_payload() {
        let mut headers = HeaderMap::new();
        assert_eq!(Credential::from_headers(&headers), Credential::Anonymous);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        let from_header = Credential::from_headers(&headers);
        assert_eq!(from_header, Credential::Bearer("abc".into()));
        assert_eq!(
            Credential::from_init_payload(&json!({"Authorization": "Bearer abc"})),
            from_header
        );
        assert_eq!(
            Credential::from_init_payload(&json!({"token": "abc"})),
            from_header
        );
        assert_eq!(
            Credential::from_init_payload(&json!({})),
            Credential::Anonymous
        );
        assert_eq!(
            Credential::from_init_payload(&json!({"Authorization": "Basic x"})),
            Credential::Malformed
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(Credential::from_headers(&headers), Credential::Malformed);
    }
}
