//! Personal data: a person's export of their own data and the erasure of
//! their account (issue 8). The rules live in `service::privacy`.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::context::ContextExt;
use crate::graphql::ids::to_id;
use crate::service::privacy as privacy_service;

/// What is left of an erased account.
#[derive(SimpleObject)]
pub struct ErasedAccount {
    /// The user id, which the records that stay (postings, votes, pledges,
    /// comments) still name.
    pub id: ID,
    /// The name those records now show: 已注销用户-<8 hex digits>.
    pub pseudonym: String,
    pub erased_at: DateTime<Utc>,
}

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

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Erases the caller's account (注销账号); `confirmation` must be
    /// "确认注销". The name becomes a pseudonym; phones, WeChat identity,
    /// password and sessions are removed; memberships end (LEFT). Postings,
    /// votes, pledges, proposals and comments stay under the pseudonym.
    /// Refused (INVALID_STATE) while the caller still has points or an
    /// uncollected redemption: spend or give them first.
    async fn delete_my_account(
        &self,
        ctx: &Context<'_>,
        confirmation: String,
    ) -> Result<ErasedAccount> {
        let erased =
            privacy_service::delete_my_account(&ctx.state().db, &ctx.actor(), &confirmation)
                .await?;
        // This process stops trusting the user's tokens at once.
        ctx.state().live_sessions.forget(erased.user_id);
        Ok(ErasedAccount {
            id: to_id(erased.user_id),
            pseudonym: erased.pseudonym,
            erased_at: erased.erased_at,
        })
    }
}
