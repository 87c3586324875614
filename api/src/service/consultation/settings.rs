//! A community's consultation settings: the seconding threshold (a number of
//! residents, or a percentage of households), how many proxies one member may
//! hold on one ballot, and how long a result notice stays published.

use chrono::Utc;
use entity::consultation::setting::{self, SecondingKind};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};

pub const DEFAULT_SECONDING_RESIDENTS: i32 = 5;
pub const DEFAULT_MAX_PROXIES_PER_HOLDER: i32 = 1;
pub const DEFAULT_NOTICE_DAYS: i32 = 7;

/// The settings in force: the stored row, or the defaults.
pub async fn settings_of<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
) -> ServiceResult<setting::Model> {
    Ok(setting::Entity::find_by_id(community_id)
        .one(db)
        .await?
        .unwrap_or_else(|| defaults(community_id)))
}

fn defaults(community_id: Uuid) -> setting::Model {
    setting::Model {
        community_id,
        seconding_kind: SecondingKind::Residents,
        seconding_value: DEFAULT_SECONDING_RESIDENTS,
        max_proxies_per_holder: DEFAULT_MAX_PROXIES_PER_HOLDER,
        notice_days: DEFAULT_NOTICE_DAYS,
        updated_by: None,
        updated_at: Utc::now(),
    }
}

pub async fn consultation_settings(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<setting::Model> {
    policy::authorize(db, actor, community_id, Permission::ViewConsultation).await?;
    settings_of(db, community_id).await
}

pub struct SettingsChange {
    pub seconding_kind: SecondingKind,
    pub seconding_value: i32,
    pub max_proxies_per_holder: Option<i32>,
    pub notice_days: Option<i32>,
}

/// Staff change the settings; later seconds and ballots use the new values.
pub async fn update_consultation_settings(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    change: SettingsChange,
) -> ServiceResult<setting::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageConsultation).await?;
    match change.seconding_kind {
        SecondingKind::Residents if !(1..=10_000).contains(&change.seconding_value) => {
            return Err(ServiceError::bad_input(
                Reason::ValueOutOfRange,
                "secondingValue",
                "附议人数须在1到10000之间",
            ));
        }
        SecondingKind::HouseholdPercent if !(1..=100).contains(&change.seconding_value) => {
            return Err(ServiceError::bad_input(
                Reason::ValueOutOfRange,
                "secondingValue",
                "附议户数比例须在1%到100%之间",
            ));
        }
        _ => {}
    }
    if change
        .max_proxies_per_holder
        .is_some_and(|n| !(0..=10).contains(&n))
    {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "maxProxiesPerHolder",
            "每人可受托票数须在0到10之间",
        ));
    }
    if change.notice_days.is_some_and(|d| !(1..=90).contains(&d)) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "noticeDays",
            "公示天数须在1到90天之间",
        ));
    }
    let txn = begin_write(db).await?;
    let existing = setting::Entity::find_by_id(community_id).one(&txn).await?;
    let before = existing.as_ref().map(settings_json);
    let current = existing.clone().unwrap_or_else(|| defaults(community_id));
    let model = setting::ActiveModel {
        community_id: Set(community_id),
        seconding_kind: Set(change.seconding_kind),
        seconding_value: Set(change.seconding_value),
        max_proxies_per_holder: Set(change
            .max_proxies_per_holder
            .unwrap_or(current.max_proxies_per_holder)),
        notice_days: Set(change.notice_days.unwrap_or(current.notice_days)),
        updated_by: Set(Some(grant.user_id)),
        updated_at: Set(Utc::now()),
    };
    let saved = if existing.is_some() {
        model.update(&txn).await?
    } else {
        model.insert(&txn).await?
    };
    audit::record(
        &txn,
        AuditEntry::new("consultation_setting", community_id, "update")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(before, Some(settings_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

fn settings_json(s: &setting::Model) -> serde_json::Value {
    json!({
        "secondingKind": s.seconding_kind.to_value(),
        "secondingValue": s.seconding_value,
        "maxProxiesPerHolder": s.max_proxies_per_holder,
        "noticeDays": s.notice_days,
    })
}
