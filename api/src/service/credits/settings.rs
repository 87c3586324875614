//! A community's time-credit rules (DESIGN §6, issue “community rules”).

use chrono::Utc;
use entity::credits::credit_setting::{self, TransferPolicy};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};

pub const DEFAULT_POINTS_PER_HOUR: i32 = 10;
pub const DEFAULT_DAILY_CAP_MINUTES: i32 = 480;
pub const DEFAULT_VALIDITY_MONTHS: i32 = 24;

/// The rules in force: the community's row, or the defaults.
pub async fn rules<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
) -> ServiceResult<credit_setting::Model> {
    Ok(credit_setting::Entity::find_by_id(community_id)
        .one(db)
        .await?
        .unwrap_or_else(|| defaults(community_id)))
}

pub fn defaults(community_id: Uuid) -> credit_setting::Model {
    credit_setting::Model {
        community_id,
        points_per_hour_default: DEFAULT_POINTS_PER_HOUR,
        daily_cap_minutes: DEFAULT_DAILY_CAP_MINUTES,
        balance_cap: None,
        validity_months: DEFAULT_VALIDITY_MONTHS,
        transfer_policy: TransferPolicy::AnyMember,
        updated_by: None,
        updated_at: Utc::now(),
    }
}

pub async fn credit_settings(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<credit_setting::Model> {
    policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    rules(db, community_id).await
}

#[derive(Debug, Clone)]
pub struct SettingsInput {
    pub points_per_hour_default: i32,
    pub daily_cap_minutes: i32,
    pub balance_cap: Option<i32>,
    pub validity_months: i32,
    pub transfer_policy: TransferPolicy,
}

/// Staff replace the community's rules.
pub async fn update_credit_settings(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    input: SettingsInput,
) -> ServiceResult<credit_setting::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageLedger).await?;
    if !(0..=1000).contains(&input.points_per_hour_default) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "pointsPerHourDefault",
            "每小时积分须在0到1000之间",
        ));
    }
    if !(1..=1440).contains(&input.daily_cap_minutes) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "dailyCapMinutes",
            "每日可计分钟数须在1到1440之间",
        ));
    }
    if matches!(input.balance_cap, Some(cap) if cap <= 0) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "balanceCap",
            "积分上限须大于0",
        ));
    }
    if !(1..=240).contains(&input.validity_months) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "validityMonths",
            "积分有效期须在1到240个月之间",
        ));
    }
    let txn = begin_write(db).await?;
    let before = credit_setting::Entity::find_by_id(community_id)
        .one(&txn)
        .await?;
    let model = credit_setting::ActiveModel {
        community_id: Set(community_id),
        points_per_hour_default: Set(input.points_per_hour_default),
        daily_cap_minutes: Set(input.daily_cap_minutes),
        balance_cap: Set(input.balance_cap),
        validity_months: Set(input.validity_months),
        transfer_policy: Set(input.transfer_policy),
        updated_by: Set(Some(grant.user_id)),
        updated_at: Set(Utc::now()),
    };
    let saved = match &before {
        Some(_) => model.update(&txn).await?,
        None => model.insert(&txn).await?,
    };
    audit::record(
        &txn,
        AuditEntry::new("credit_setting", community_id, "update")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(
                before.as_ref().map(settings_json),
                Some(settings_json(&saved)),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

fn settings_json(s: &credit_setting::Model) -> serde_json::Value {
    json!({
        "pointsPerHourDefault": s.points_per_hour_default,
        "dailyCapMinutes": s.daily_cap_minutes,
        "balanceCap": s.balance_cap,
        "validityMonths": s.validity_months,
        "transferPolicy": s.transfer_policy.to_value(),
    })
}
