//! Live tallies and the clock.
//!
//! [`TallyHub`] tells subscribers “this ballot's tally changed” (never what
//! changed: subscribers re-read the tally as the rules let them see it). A
//! vote publishes to the hub of its own process after it commits; on
//! PostgreSQL it also sends `NOTIFY linli_ballot_tally` inside its
//! transaction (delivered only if it commits), and every replica LISTENs and
//! feeds its own hub, so two servers on one database see each other's votes.
//!
//! [`spawn_background`] starts, per process: the PostgreSQL listener, and a
//! ticker that opens SCHEDULED ballots and closes OPEN ones when their time
//! comes (each a conditional UPDATE, so replicas never double-close), and
//! drains the notifications outbox.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::service::consultation::{ballot, outbox};

/// The PostgreSQL channel that carries ballot ids whose tally changed.
pub const CHANNEL: &str = "linli_ballot_tally";
/// How often the ticker looks for ballots to open or close.
pub const TICK: Duration = Duration::from_secs(1);

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
        let (sender, _) = broadcast::channel(1024);
        TallyHub {
            sender,
            origin: Uuid::new_v4(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.sender.subscribe()
    }

    /// Tells this process's subscribers (none listening is fine).
    pub fn publish_local(&self, ballot_id: Uuid) {
        let _ = self.sender.send(ballot_id);
    }

    /// On PostgreSQL, queues a NOTIFY in the transaction: other replicas hear
    /// of the change when (and only if) it commits.
    pub async fn notify_in<C: ConnectionTrait>(
        &self,
        txn: &C,
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
                format!("{}:{}", self.origin, ballot_id).into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// A notification's payload from another process: the ballot id.
    fn ballot_from_elsewhere(&self, payload: &str) -> Option<Uuid> {
        let (origin, ballot) = payload.split_once(':')?;
        let origin = Uuid::parse_str(origin).ok()?;
        if origin == self.origin {
            return None;
        }
        Uuid::parse_str(ballot).ok()
    }
}

/// Starts the listener (PostgreSQL) and the ticker. Needs a Tokio runtime.
pub fn spawn_background(db: DatabaseConnection, hub: TallyHub) {
    if db.get_database_backend() == DbBackend::Postgres {
        tokio::spawn(listen(db.clone(), hub.clone()));
    }
    tokio::spawn(tick(db, hub));
}

async fn listen(db: DatabaseConnection, hub: TallyHub) {
    use sea_orm::sqlx::postgres::PgListener;
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
        if let Err(err) = listener.listen(CHANNEL).await {
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

async fn tick(db: DatabaseConnection, hub: TallyHub) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = ballot::open_due(&db).await {
            tracing::warn!(error = ?err, "opening due ballots failed");
        }
        if let Err(err) = ballot::close_due(&db, &hub).await {
            tracing::warn!(error = ?err, "closing due ballots failed");
        }
        if let Err(err) = outbox::drain(&db, &outbox::LogSender).await {
            tracing::warn!(error = ?err, "draining the notifications outbox failed");
        }
    }
}
