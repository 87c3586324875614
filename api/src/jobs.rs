//! Every periodic task of the server, started in one place
//! ([`spawn`], called once by `http::Application::build`):
//!
//! | task | every | what |
//! | --- | --- | --- |
//! | ballots | [`BALLOT_TICK`] | opens SCHEDULED ballots and closes OPEN ones when their time comes (each a conditional UPDATE, so replicas never double-close), then drains the notifications outbox |
//! | time credits | [`crate::service::credits::SCHEDULE_EVERY`] | closes check-ins left open after their activity, expires old points (at start, then hourly) |
//! | rate limits | [`crate::ratelimit::RETAIN_EVERY`] | forgets the clients whose bucket is full again (bounded memory) |
//! | tally listener | — | on PostgreSQL, LISTENs for other replicas' votes ([`crate::realtime::listen`]) |
//!
//! Each task runs for as long as the runtime does; an error of one round is
//! logged and the next round tries again (every task is idempotent).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::error::ServiceError;
use crate::ratelimit::{RETAIN_EVERY, RateLimits};
use crate::realtime::{self, TallyHub};
use crate::service::consultation::{ballot, outbox};
use crate::service::credits;

/// How often ballots are opened and closed on time.
pub const BALLOT_TICK: Duration = Duration::from_secs(1);

/// Starts every periodic task. Needs a Tokio runtime.
pub fn spawn(db: &DatabaseConnection, hub: &TallyHub, limits: &Arc<RateLimits>) {
    tokio::spawn(realtime::listen(db.clone(), hub.clone()));
    every(BALLOT_TICK, {
        let (db, hub) = (db.clone(), hub.clone());
        move || ballot_round(db.clone(), hub.clone())
    });
    every(credits::SCHEDULE_EVERY, {
        let db = db.clone();
        move || credits_round(db.clone())
    });
    every(RETAIN_EVERY, {
        let limits = limits.clone();
        move || {
            let limits = limits.clone();
            async move { limits.retain_recent() }
        }
    });
}

/// Runs `round` now and then every `period` (a late round delays the next
/// rather than bunching them up).
fn every<F, R>(period: Duration, round: F)
where
    F: Fn() -> R + Send + 'static,
    R: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            round().await;
        }
    });
}

async fn ballot_round(db: DatabaseConnection, hub: TallyHub) {
    if let Err(err) = ballot::open_due(&db).await {
        log("opening due ballots failed", &err);
    }
    if let Err(err) = ballot::close_due(&db, &hub).await {
        log("closing due ballots failed", &err);
    }
    if let Err(err) = outbox::drain(&db, &outbox::LogSender).await {
        log("draining the notifications outbox failed", &err);
    }
}

async fn credits_round(db: DatabaseConnection) {
    if let Err(err) = credits::run_scheduled(&db, chrono::Utc::now()).await {
        log("scheduled time-credit work failed", &err);
    }
}

fn log(what: &'static str, err: &ServiceError) {
    if let ServiceError::Internal(cause) = err {
        tracing::error!(error = ?cause, "{what}");
    } else {
        tracing::warn!(message = %err.message(), "{what}");
    }
}
