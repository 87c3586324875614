//! What volunteers and staff read from the ledger: leaderboards and the
//! service record a volunteer exports for a school or an employer.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use entity::credits::point_account::{self, AccountKind};
use entity::credits::posting::{self, PostingKind};
use entity::credits::{activity, activity_signup};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};
use crate::service::credits::volunteers;

pub const DEFAULT_LEADERBOARD_SIZE: u64 = 10;
pub const MAX_LEADERBOARD_SIZE: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderRow {
    pub user_id: Uuid,
    pub points: i64,
    pub minutes: i64,
    /// 1 for the most points; equal points and minutes share a rank.
    pub rank: i64,
}

/// Points and minutes earned (EARN, net of reversals) in [from, to), per
/// volunteer, highest first; limited to a team's members when given.
pub async fn leaderboard(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    team_id: Option<Uuid>,
    first: Option<i32>,
) -> ServiceResult<Vec<LeaderRow>> {
    policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    if to <= from {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "to",
            "结束时间须晚于开始时间",
        ));
    }
    let limit = match first {
        None => DEFAULT_LEADERBOARD_SIZE,
        Some(n) if n > 0 && (n as u64) <= MAX_LEADERBOARD_SIZE => n as u64,
        Some(_) => {
            return Err(ServiceError::bad_input(
                Reason::PageSizeOutOfRange,
                "first",
                format!("排行榜人数须在1到{MAX_LEADERBOARD_SIZE}之间"),
            ));
        }
    };
    let team_members = match team_id {
        Some(team_id) => {
            let team = entity::credits::volunteer_team::Entity::find_by_id(team_id)
                .one(db)
                .await?
                .filter(|t| t.community_id == community_id)
                .ok_or(ServiceError::NotFound("志愿服务队"))?;
            Some(volunteers::team_member_ids(db, team.id).await?)
        }
        None => None,
    };
    let totals = earned_by_account(db, community_id, Some((from, to)), None).await?;
    let owners: Vec<(Uuid, Option<Uuid>)> = point_account::Entity::find()
        .select_only()
        .column(point_account::Column::Id)
        .column(point_account::Column::OwnerId)
        .filter(point_account::Column::CommunityId.eq(community_id))
        .filter(point_account::Column::Kind.eq(AccountKind::Member))
        .into_tuple()
        .all(db)
        .await?;
    let mut rows: Vec<LeaderRow> = owners
        .into_iter()
        .filter_map(|(account, owner)| {
            let owner = owner?;
            let (points, minutes) = totals.get(&account).copied()?;
            let in_team = team_members
                .as_ref()
                .is_none_or(|members| members.contains(&owner));
            (in_team && (points > 0 || minutes > 0)).then_some(LeaderRow {
                user_id: owner,
                points,
                minutes,
                rank: 0,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.points
            .cmp(&a.points)
            .then(b.minutes.cmp(&a.minutes))
            .then(a.user_id.cmp(&b.user_id))
    });
    for i in 0..rows.len() {
        rows[i].rank = if i > 0
            && rows[i - 1].points == rows[i].points
            && rows[i - 1].minutes == rows[i].minutes
        {
            rows[i - 1].rank
        } else {
            i as i64 + 1
        };
    }
    rows.truncate(limit as usize);
    Ok(rows)
}

/// EARN points and minutes per member account (net of reversals), summed in
/// SQL, optionally within a period and for one activity.
async fn earned_by_account(
    db: &DatabaseConnection,
    community_id: Uuid,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    activity_id: Option<Uuid>,
) -> ServiceResult<HashMap<Uuid, (i64, i64)>> {
    let base = || {
        let mut query = posting::Entity::find()
            .filter(posting::Column::CommunityId.eq(community_id))
            .filter(posting::Column::Kind.eq(PostingKind::Earn));
        if let Some((from, to)) = period {
            query = query
                .filter(posting::Column::CreatedAt.gte(from))
                .filter(posting::Column::CreatedAt.lt(to));
        }
        if let Some(id) = activity_id {
            query = query.filter(posting::Column::ActivityId.eq(id));
        }
        query.select_only()
    };
    let earned: Vec<(Uuid, Option<i64>, Option<i64>)> = base()
        .column(posting::Column::ToAccountId)
        .column_as(posting::Column::Amount.sum(), "points")
        .column_as(posting::Column::Minutes.sum(), "minutes")
        .filter(posting::Column::ReversesPostingId.is_null())
        .group_by(posting::Column::ToAccountId)
        .into_tuple()
        .all(db)
        .await?;
    let reversed: Vec<(Uuid, Option<i64>, Option<i64>)> = base()
        .column(posting::Column::FromAccountId)
        .column_as(posting::Column::Amount.sum(), "points")
        .column_as(posting::Column::Minutes.sum(), "minutes")
        .filter(posting::Column::ReversesPostingId.is_not_null())
        .group_by(posting::Column::FromAccountId)
        .into_tuple()
        .all(db)
        .await?;
    let mut totals: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for (account, points, minutes) in earned {
        let entry = totals.entry(account).or_default();
        entry.0 += points.unwrap_or(0);
        entry.1 += minutes.unwrap_or(0);
    }
    for (account, points, minutes) in reversed {
        let entry = totals.entry(account).or_default();
        entry.0 -= points.unwrap_or(0);
        entry.1 -= minutes.unwrap_or(0);
    }
    Ok(totals)
}

/// One confirmed activity of a volunteer's service record.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub activity: activity::Model,
    /// Minutes staff confirmed.
    pub minutes: i64,
    /// Points it earned, net of any reversal.
    pub points: i64,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ServiceRecordReport {
    pub user_id: Uuid,
    pub entries: Vec<ServiceEntry>,
    pub total_minutes: i64,
    pub total_points: i64,
}

/// A volunteer's confirmed service in a community: their own, or anyone's
/// for those who may see the ledger.
pub async fn service_record(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    user_id: Option<Uuid>,
) -> ServiceResult<ServiceRecordReport> {
    let standing = policy::standing(db, actor, community_id).await?;
    let subject = user_id.unwrap_or(standing.user_id);
    let allowed = if subject == standing.user_id {
        standing.is_member()
    } else {
        standing.allows(Permission::ViewLedger)
    };
    if !allowed {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let signups = activity_signup::Entity::find()
        .filter(activity_signup::Column::CommunityId.eq(community_id))
        .filter(activity_signup::Column::UserId.eq(subject))
        .filter(activity_signup::Column::ConfirmedAt.is_not_null())
        .all(db)
        .await?;
    let activities = activity::Entity::find()
        .filter(activity::Column::Id.is_in(signups.iter().map(|s| s.activity_id)))
        .order_by_asc(activity::Column::StartsAt)
        .all(db)
        .await?;
    let account: Option<Uuid> = point_account::Entity::find()
        .select_only()
        .column(point_account::Column::Id)
        .filter(point_account::Column::CommunityId.eq(community_id))
        .filter(point_account::Column::OwnerId.eq(subject))
        .into_tuple()
        .one(db)
        .await?;
    let mut entries = Vec::with_capacity(activities.len());
    for found in activities {
        let Some(signup) = signups.iter().find(|s| s.activity_id == found.id) else {
            continue;
        };
        let points = match account {
            Some(account) => earned_by_account(db, community_id, None, Some(found.id))
                .await?
                .get(&account)
                .map(|(points, _)| *points)
                .unwrap_or(0),
            None => 0,
        };
        entries.push(ServiceEntry {
            minutes: i64::from(signup.confirmed_minutes.unwrap_or(0)),
            points,
            confirmed_at: signup.confirmed_at,
            activity: found,
        });
    }
    Ok(ServiceRecordReport {
        user_id: subject,
        total_minutes: entries.iter().map(|e| e.minutes).sum(),
        total_points: entries.iter().map(|e| e.points).sum(),
        entries,
    })
}

/// The service record as CSV (UTF-8 with a BOM so that spreadsheet programs
/// read the Chinese; times in Asia/Shanghai).
pub fn service_record_csv(report: &ServiceRecordReport, volunteer_name: &str) -> String {
    let offset = FixedOffset::east_opt(8 * 3600);
    let local = |at: DateTime<Utc>| match offset {
        Some(offset) => at
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let mut out = String::from("\u{feff}");
    out.push_str(&csv_line(&[
        "志愿者".into(),
        "活动".into(),
        "开始时间".into(),
        "结束时间".into(),
        "服务时长（分钟）".into(),
        "积分".into(),
        "确认时间".into(),
    ]));
    for entry in &report.entries {
        out.push_str(&csv_line(&[
            volunteer_name.to_string(),
            entry.activity.title.clone(),
            local(entry.activity.starts_at),
            local(entry.activity.ends_at),
            entry.minutes.to_string(),
            entry.points.to_string(),
            entry.confirmed_at.map(local).unwrap_or_default(),
        ]));
    }
    out.push_str(&csv_line(&[
        volunteer_name.to_string(),
        "合计".into(),
        String::new(),
        String::new(),
        report.total_minutes.to_string(),
        report.total_points.to_string(),
        String::new(),
    ]));
    out
}

fn csv_line(fields: &[String]) -> String {
    let escaped: Vec<String> = fields
        .iter()
        .map(|f| {
            // A leading = + - @ would make a spreadsheet run a formula.
            let f = if f.starts_with(['=', '+', '-', '@']) {
                format!("'{f}")
            } else {
                f.clone()
            };
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect();
    format!("{}\r\n", escaped.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_quotes_commas_and_formulas() {
        assert_eq!(
            csv_line(&["a,b".into(), "say \"hi\"".into(), "=1+1".into(), "x".into()]),
            "\"a,b\",\"say \"\"hi\"\"\",'=1+1,x\r\n"
        );
    }
}
