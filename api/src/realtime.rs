//! Live tallies: [`TallyHub`] tells subscribers “this ballot's tally
//! changed” (never what changed: subscribers re-read the tally as the rules
//! let them see it).
//!
//! A vote publishes to the hub of its own process after it commits, through
//! the service's [`TallyPublisher`] interface (the service never names this
//! module); on PostgreSQL it also sends `NOTIFY linli_ballot_tally` inside
//! its transaction, and every replica runs [`listen`] (started by
//! `crate::jobs`) to feed its own hub, so two servers on one database see
//! each other's votes.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::service::consultation::tally_feed::{self, TallyPublisher};

/// How many changes a slow subscriber may fall behind before it skips to
/// the latest (it then re-reads the tally anyway).
const BACKLOG: usize = 1024;

#[derive(Clone, Debug)]
pub struct TallyHub {
    sender: broadcast::Sender<Uuid>,
    /// This process, so it can skip its own notifications.
    origin: Uuid,
}

impl Default for TallyHub {
    fn default() -> Self {
        Self::new()
    }
}

impl TallyHub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        TallyHub {
            sender,
            origin: Uuid::new_v4(),
        }
    }

    /// The ids of ballots whose tally changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.sender.subscribe()
    }

    /// A notification's payload from another process: the ballot id.
    fn ballot_from_elsewhere(&self, payload: &str) -> Option<Uuid> {
        let (origin, ballot) = tally_feed::parse_payload(payload)?;
        (origin != self.origin).then_some(ballot)
    }
}

impl TallyPublisher for TallyHub {
    fn origin(&self) -> Uuid {
        self.origin
    }

    fn publish_local(&self, ballot_id: Uuid) {
        let _ = self.sender.send(ballot_id);
    }
}

/// On PostgreSQL: LISTENs on the tally channel and feeds `hub` with the
/// changes of other replicas, reconnecting after a lost connection, until
/// the pool is closed. Nothing to do on SQLite (one process).
pub async fn listen(db: DatabaseConnection, hub: TallyHub) {
    use sea_orm::sqlx::postgres::PgListener;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    loop {
        let pool = db.get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "tally listener cannot connect");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(tally_feed::CHANNEL).await {
            tracing::warn!(error = %err, "tally listener cannot LISTEN");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    if let Some(ballot_id) = hub.ballot_from_elsewhere(notification.payload()) {
                        hub.publish_local(ballot_id);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "tally listener lost its connection");
                    break;
                }
            }
        }
        if pool.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hub_skips_its_own_notifications() {
        let hub = TallyHub::new();
        let other = TallyHub::new();
        let ballot = Uuid::now_v7();
        assert_eq!(
            hub.ballot_from_elsewhere(&tally_feed::payload(hub.origin(), ballot)),
            None
        );
        assert_eq!(
            hub.ballot_from_elsewhere(&tally_feed::payload(other.origin(), ballot)),
            Some(ballot)
        );
        let mut receiver = hub.subscribe();
        hub.publish_local(ballot);
        assert_eq!(receiver.recv().await.ok(), Some(ballot));
    }
}
