//! Personal data: a person's export of their own data (issue 8). The rules
//! live in `service::privacy`.

use async_graphql::{Context, Json, Object, Result};

use crate::graphql::context::ContextExt;
use crate::service::privacy as privacy_service;

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Everything Linli keeps about the caller, as one JSON document
    /// (个人信息导出): profile, memberships with phones, needs registered for
    /// them, resources, proposals, seconds, comments, ratings, votes (a secret
    /// ballot's vote carries no choice: it is never stored per voter),
    /// pledges, point accounts and postings, redemptions, volunteer profile,
    /// sign-ups, sessions. Only the caller's own records.
    async fn my_data(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        let state = ctx.state();
        Ok(Json(
            privacy_service::export_my_data(&state.db, &state.keys, &ctx.actor()).await?,
        ))
    }
}
