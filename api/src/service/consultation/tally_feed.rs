//! How a vote announces that a ballot's tally changed, as the service sees
//! it: through a [`TallyPublisher`] (the in-process hub of
//! `crate::realtime` implements it), and, on PostgreSQL, a `NOTIFY` queued
//! in the vote's own transaction, so that other replicas hear of the change
//! when (and only if) it commits.
//!
//! The service never names the hub: it is handed a publisher, so that the
//! realtime layer above depends on this module and not the other way round.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// The PostgreSQL channel that carries ballot ids whose tally changed.
pub const CHANNEL: &str = "linli_ballot_tally";

/// Where a committed change of a tally is told.
pub trait TallyPublisher: Send + Sync {
    /// This process, carried in the notification so it skips its own.
    fn origin(&self) -> Uuid;
    /// Tells this process's subscribers (none listening is fine).
    fn publish_local(&self, ballot_id: Uuid);
}

/// On PostgreSQL, queues a NOTIFY in the transaction `txn`: other replicas
/// hear of the change when (and only if) it commits. Nothing on SQLite,
/// which has one process.
pub async fn notify_in<C: ConnectionTrait>(
    txn: &C,
    publisher: &dyn TallyPublisher,
    ballot_id: Uuid,
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [
            CHANNEL.into(),
            payload(publisher.origin(), ballot_id).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// A notification's payload: `origin:ballot`.
pub fn payload(origin: Uuid, ballot_id: Uuid) -> String {
    format!("{origin}:{ballot_id}")
}

/// The origin and ballot of a notification's payload.
pub fn parse_payload(payload: &str) -> Option<(Uuid, Uuid)> {
    let (origin, ballot) = payload.split_once(':')?;
    Some((Uuid::parse_str(origin).ok()?, Uuid::parse_str(ballot).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back() {
        let (origin, ballot) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            parse_payload(&payload(origin, ballot)),
            Some((origin, ballot))
        );
        assert_eq!(parse_payload("nonsense"), None);
    }
}
