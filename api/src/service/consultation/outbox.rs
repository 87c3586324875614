//! The notifications outbox: events (a ballot opened, a meeting scheduled, a
//! result published…) are written in the same transaction as the change
//! they tell about, and a sender drains them afterwards, so no event is lost
//! when sending fails. Delivery is at least once: a row is leased (a
//! conditional UPDATE, safe with several replicas), sent, then marked SENT;
//! a failed or interrupted send is retried after the lease runs out, up to
//! [`MAX_ATTEMPTS`] times, then the row is marked FAILED.

use std::time::Duration;

use chrono::Utc;
use entity::consultation::notification_outbox::{self, OutboxStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ServiceResult;

pub const MAX_ATTEMPTS: i32 = 10;
const LEASE: Duration = Duration::from_secs(60);
const BATCH: u64 = 50;

pub async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    community_id: Uuid,
    event: &str,
    payload: Value,
) -> ServiceResult<()> {
    notification_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        event: Set(event.to_string()),
        payload: Set(payload),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(Utc::now()),
        sent_at: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Delivers one notification (WeChat subscription messages later).
pub trait Sender: Send + Sync {
    fn send(
        &self,
        item: &notification_outbox::Model,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Writes each notification to the log.
pub struct LogSender;

impl Sender for LogSender {
    async fn send(&self, item: &notification_outbox::Model) -> Result<(), String> {
        tracing::info!(
            event = %item.event,
            community = %item.community_id,
            payload = %item.payload,
            "notification"
        );
        Ok(())
    }
}

/// Sends what is due; returns how many were delivered.
pub async fn drain<S: Sender>(db: &DatabaseConnection, sender: &S) -> ServiceResult<usize> {
    let now = Utc::now();
    let due: Vec<notification_outbox::Model> = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Status.eq(OutboxStatus::Pending))
        .filter(
            Condition::any()
                .add(notification_outbox::Column::LockedUntil.is_null())
                .add(notification_outbox::Column::LockedUntil.lt(now)),
        )
        .order_by_asc(notification_outbox::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut delivered = 0;
    for item in due {
        let lease_until = Utc::now() + LEASE;
        // Lease the row: only one replica wins it.
        let leased = notification_outbox::Entity::update_many()
            .col_expr(
                notification_outbox::Column::LockedUntil,
                Expr::value(Some(lease_until)),
            )
            .col_expr(
                notification_outbox::Column::Attempts,
                Expr::col(notification_outbox::Column::Attempts).add(1),
            )
            .filter(notification_outbox::Column::Id.eq(item.id))
            .filter(notification_outbox::Column::Status.eq(OutboxStatus::Pending))
            .filter(notification_outbox::Column::Attempts.eq(item.attempts))
            .exec(db)
            .await?;
        if leased.rows_affected != 1 {
            continue;
        }
        match sender.send(&item).await {
            Ok(()) => {
                notification_outbox::Entity::update_many()
                    .col_expr(
                        notification_outbox::Column::Status,
                        Expr::value(OutboxStatus::Sent),
                    )
                    .col_expr(
                        notification_outbox::Column::SentAt,
                        Expr::value(Some(Utc::now())),
                    )
                    .filter(notification_outbox::Column::Id.eq(item.id))
                    .exec(db)
                    .await?;
                delivered += 1;
            }
            Err(error) => {
                let failed = item.attempts + 1 >= MAX_ATTEMPTS;
                let status = if failed {
                    OutboxStatus::Failed
                } else {
                    OutboxStatus::Pending
                };
                let error: String = error.chars().take(500).collect();
                tracing::warn!(id = %item.id, %error, failed, "notification not sent");
                notification_outbox::Entity::update_many()
                    .col_expr(notification_outbox::Column::Status, Expr::value(status))
                    .col_expr(
                        notification_outbox::Column::LastError,
                        Expr::value(Some(error)),
                    )
                    .filter(notification_outbox::Column::Id.eq(item.id))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(delivered)
}
