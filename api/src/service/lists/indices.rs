//! The four indices (四个指数) of a community over a period [from, to),
//! computed with SQL aggregates in the database. "Delivered by C" means the
//! project's delivering community is C: the community that selected it
//! from the library, or the one that created it until then.
//!
//! - teams (资源团队指数): distinct contributors, each counted once — every
//!   organisation or individual provider that offered a resource in C in
//!   the period, or whose resource was pledged in the period to a project
//!   delivered by C (a pledge not released unused), and every organisation leading a project delivered by C
//!   that was running in the period.
//! - projects (资源项目指数): projects delivered by C that were running in
//!   the period (started before `to`, not completed before `from`) and drew
//!   on at least one resource pledge that was not released unused.
//! - funds (资源资金指数): yuan mobilised = (fen of FUNDS resources pledged
//!   in the period to projects delivered by C — the reserved amount, or the
//!   used amount once settled — plus fen spent by projects delivered by C
//!   completed in the period) / 100.
//! - points (资源积分指数): volunteer points moved in C in the period =
//!   points earned (EARN postings minus postings reversing EARN postings)
//!   plus points spent (REDEEM postings minus postings reversing them),
//!   from the credits ledger.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::org::region::{self, RegionKind};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Value,
};
use uuid::Uuid;

use super::statement;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, RegionPermission};

/// The longest period the indices are computed over.
pub const MAX_PERIOD_DAYS: i64 = 3660;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Indices {
    pub teams: i64,
    pub projects: i64,
    pub funds_pledged_fen: i64,
    pub funds_spent_fen: i64,
    pub points_earned: i64,
    pub points_spent: i64,
}

impl Indices {
    pub fn funds_yuan(&self) -> f64 {
        (self.funds_pledged_fen + self.funds_spent_fen) as f64 / 100.0
    }

    pub fn points(&self) -> i64 {
        self.points_earned + self.points_spent
    }
}

#[derive(Debug, FromQueryResult)]
struct Row {
    c: Uuid,
    v: i64,
}

fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> ServiceResult<()> {
    if to <= from {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "to",
            "结束时间必须晚于开始时间",
        ));
    }
    if (to - from).num_days() > MAX_PERIOD_DAYS {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "to",
            "统计区间最长十年",
        ));
    }
    Ok(())
}

/// One community's indices: its staff and officers above.
pub async fn community_indices(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Indices> {
    check_period(from, to)?;
    policy::authorize(db, actor, community_id, Permission::ViewIndices).await?;
    let all = compute(db, &[community_id], from, to).await?;
    Ok(all.get(&community_id).copied().unwrap_or_default())
}

/// Every community under a street or district side by side, by name: the
/// officers of that region or above.
pub async fn region_indices(
    db: &DatabaseConnection,
    actor: &Actor,
    region_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Vec<(region::Model, Indices)>> {
    check_period(from, to)?;
    let target = region::Entity::find_by_id(region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    policy::authorize_region(db, actor, Some(&target), RegionPermission::ViewIndices).await?;
    let communities = region::Entity::find()
        .filter(region::Column::Kind.eq(RegionKind::Community))
        .filter(match target.kind {
            RegionKind::District => region::Column::DistrictId.eq(target.id),
            RegionKind::Street => region::Column::StreetId.eq(target.id),
            RegionKind::Community => region::Column::Id.eq(target.id),
        })
        .order_by_asc(region::Column::Name)
        .order_by_asc(region::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = communities.iter().map(|c| c.id).collect();
    let all = compute(db, &ids, from, to).await?;
    Ok(communities
        .into_iter()
        .map(|c| {
            let indices = all.get(&c.id).copied().unwrap_or_default();
            (c, indices)
        })
        .collect())
}

const DELIVERED_BY: &str = "COALESCE(p.selected_community_id, p.community_id)";

/// Computes the indices of `communities`, one grouped aggregate per figure.
pub async fn compute<C: ConnectionTrait>(
    db: &C,
    communities: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<HashMap<Uuid, Indices>> {
    let mut out: HashMap<Uuid, Indices> = communities
        .iter()
        .map(|c| (*c, Indices::default()))
        .collect();
    if communities.is_empty() {
        return Ok(out);
    }
    let marks = vec!["?"; communities.len()].join(", ");
    let ids = || communities.iter().map(|c| Value::from(*c));
    let period = || [Value::from(from), Value::from(to)];

    // teams: distinct (kind, id) of contributors per community.
    let teams_sql = format!(
        "SELECT x.c AS c, COUNT(*) AS v FROM ( \
           SELECT r.community_id AS c, COALESCE(r.organisation_id, r.provider_id) AS k, \
                  CASE WHEN r.organisation_id IS NULL THEN 0 ELSE 1 END AS t \
             FROM resource r \
            WHERE (r.organisation_id IS NOT NULL OR r.provider_id IS NOT NULL) \
              AND r.created_at >= ? AND r.created_at < ? AND r.community_id IN ({marks}) \
           UNION \
           SELECT {DELIVERED_BY} AS c, COALESCE(r.organisation_id, r.provider_id) AS k, \
                  CASE WHEN r.organisation_id IS NULL THEN 0 ELSE 1 END AS t \
             FROM pledge g JOIN project p ON p.id = g.project_id JOIN resource r ON r.id = g.resource_id \
            WHERE (r.organisation_id IS NOT NULL OR r.provider_id IS NOT NULL) \
              AND g.status <> 'RELEASED' \
              AND g.created_at >= ? AND g.created_at < ? AND {DELIVERED_BY} IN ({marks}) \
           UNION \
           SELECT {DELIVERED_BY} AS c, p.lead_organisation_id AS k, 1 AS t \
             FROM project p \
            WHERE p.lead_organisation_id IS NOT NULL AND p.started_at IS NOT NULL \
              AND p.started_at < ? AND (p.completed_at IS NULL OR p.completed_at >= ?) \
              AND {DELIVERED_BY} IN ({marks}) \
         ) x GROUP BY x.c"
    );
    let values: Vec<Value> = period()
        .into_iter()
        .chain(ids())
        .chain(period())
        .chain(ids())
        .chain([Value::from(to), Value::from(from)])
        .chain(ids())
        .collect();
    for row in rows(db, &teams_sql, values).await? {
        if let Some(i) = out.get_mut(&row.c) {
            i.teams = row.v;
        }
    }

    // projects: running in the period and drawing on a pledge.
    let projects_sql = format!(
        "SELECT {DELIVERED_BY} AS c, COUNT(*) AS v FROM project p \
          WHERE p.status IN ('IN_PROGRESS', 'COMPLETED', 'EVALUATED') \
            AND p.started_at < ? AND (p.completed_at IS NULL OR p.completed_at >= ?) \
            AND EXISTS (SELECT 1 FROM pledge g WHERE g.project_id = p.id AND g.status <> 'RELEASED') \
            AND {DELIVERED_BY} IN ({marks}) \
          GROUP BY {DELIVERED_BY}"
    );
    let values: Vec<Value> = [Value::from(to), Value::from(from)]
        .into_iter()
        .chain(ids())
        .collect();
    for row in rows(db, &projects_sql, values).await? {
        if let Some(i) = out.get_mut(&row.c) {
            i.projects = row.v;
        }
    }

    // funds pledged: FUNDS pledges made in the period.
    let pledged_sql = format!(
        "SELECT {DELIVERED_BY} AS c, \
                CAST(COALESCE(SUM(CASE WHEN g.status = 'RESERVED' THEN g.quantity \
                                       ELSE COALESCE(g.used_quantity, 0) END), 0) AS BIGINT) AS v \
           FROM pledge g JOIN project p ON p.id = g.project_id JOIN resource r ON r.id = g.resource_id \
          WHERE r.category = 'FUNDS' AND g.created_at >= ? AND g.created_at < ? \
            AND {DELIVERED_BY} IN ({marks}) \
          GROUP BY {DELIVERED_BY}"
    );
    let values: Vec<Value> = period().into_iter().chain(ids()).collect();
    for row in rows(db, &pledged_sql, values).await? {
        if let Some(i) = out.get_mut(&row.c) {
            i.funds_pledged_fen = row.v;
        }
    }

    // funds spent: projects completed in the period.
    let spent_sql = format!(
        "SELECT {DELIVERED_BY} AS c, CAST(COALESCE(SUM(p.spent_fen), 0) AS BIGINT) AS v \
           FROM project p \
          WHERE p.completed_at >= ? AND p.completed_at < ? AND {DELIVERED_BY} IN ({marks}) \
          GROUP BY {DELIVERED_BY}"
    );
    let values: Vec<Value> = period().into_iter().chain(ids()).collect();
    for row in rows(db, &spent_sql, values).await? {
        if let Some(i) = out.get_mut(&row.c) {
            i.funds_spent_fen = row.v;
        }
    }

    points(db, &mut out, &marks, communities, from, to).await?;
    Ok(out)
}

async fn rows<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> ServiceResult<Vec<Row>> {
    let backend = db.get_database_backend();
    Ok(Row::find_by_statement(statement(backend, sql, values))
        .all(db)
        .await?)
}

#[derive(Debug, FromQueryResult)]
struct PointsRow {
    c: Uuid,
    earned: i64,
    spent: i64,
}

/// Points earned and spent, from the credits ledger (`posting`): a posting
/// that reverses another (same kind, `reverses_posting_id` set) counts
/// negatively.
async fn points<C: ConnectionTrait>(
    db: &C,
    out: &mut HashMap<Uuid, Indices>,
    marks: &str,
    communities: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<()> {
    let sql = format!(
        "SELECT community_id AS c, \
                CAST(COALESCE(SUM(CASE WHEN kind = 'EARN' AND reverses_posting_id IS NULL THEN amount \
                                       WHEN kind = 'EARN' THEN -amount ELSE 0 END), 0) AS BIGINT) AS earned, \
                CAST(COALESCE(SUM(CASE WHEN kind = 'REDEEM' AND reverses_posting_id IS NULL THEN amount \
                                       WHEN kind = 'REDEEM' THEN -amount ELSE 0 END), 0) AS BIGINT) AS spent \
           FROM posting \
          WHERE kind IN ('EARN', 'REDEEM') AND created_at >= ? AND created_at < ? \
            AND community_id IN ({marks}) \
          GROUP BY community_id"
    );
    let values: Vec<Value> = [Value::from(from), Value::from(to)]
        .into_iter()
        .chain(communities.iter().map(|c| Value::from(*c)))
        .collect();
    let rows = PointsRow::find_by_statement(statement(db.get_database_backend(), &sql, values))
        .all(db)
        .await?;
    for row in rows {
        if let Some(i) = out.get_mut(&row.c) {
            i.points_earned = row.earned;
            i.points_spent = row.spent;
        }
    }
    Ok(())
}
