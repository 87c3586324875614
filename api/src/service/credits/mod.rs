//! Volunteer time credits (DESIGN §6): the community's rules, volunteers and
//! teams, activities with sign-up and attendance, the double-entry points
//! ledger, the catalogue, and what volunteers and staff read from them.
//!
//! Every write runs in one transaction begun with `begin_write`; every
//! posting goes through [`ledger::post`], which moves the balances of both
//! accounts in the same transaction (in account-id order, so that two
//! concurrent postings between the same accounts cannot deadlock) and
//! records the audit entry.

pub mod activities;
pub mod catalog;
pub mod idempotency;
pub mod ledger;
pub mod reports;
pub mod settings;
pub mod volunteers;

/// Random decimal digits for short codes (pick-up and check-in codes).
pub(crate) fn random_digits(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// How often the server runs the scheduled credit work (`crate::jobs`).
pub const SCHEDULE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The scheduled work, as of `now`: close check-ins left open after their
/// activity ended (flagged for staff), and expire points older than each
/// community's validity period. Both are idempotent.
pub async fn run_scheduled(
    db: &sea_orm::DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::error::ServiceResult<()> {
    let closed = activities::close_ended_activities(db, now).await?;
    let mut expired = 0;
    for community_id in ledger::communities_with_accounts(db).await? {
        expired += ledger::expire_points(db, community_id, now, None)
            .await?
            .points;
    }
    tracing::info!(closed, expired, "scheduled time-credit work done");
    Ok(())
}
