//! Activities: creation, sign-up with a waiting list, check-in and check-out
//! with the organiser's short-lived code (or by the organiser for someone
//! present), automatic check-out at the end, and staff confirming minutes,
//! which posts the points (EARN).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use entity::credits::activity::{self, ActivityStatus};
use entity::credits::activity_signup::{self, SignupStatus};
use entity::credits::credit_setting;
use entity::credits::point_account;
use entity::credits::posting::PostingKind;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Role};
use crate::service::credits::idempotency::{self, Claim, Request};
use crate::service::credits::ledger::{self, Movement, PostingView};
use crate::service::credits::volunteers::normalise_skills;
use crate::service::credits::{random_digits, settings};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// Check-in codes are shown and used from this long before the start until
/// this long after the end.
pub const CHECK_WINDOW_MINUTES: i64 = 30;
/// A code the organiser shows is valid this long.
pub const CHECK_CODE_MINUTES: i64 = 10;
/// The longest activity.
pub const MAX_ACTIVITY_HOURS: i64 = 24;

#[derive(Debug, Clone)]
pub struct NewActivity {
    pub community_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub place: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i32,
    pub points_per_hour: i32,
    pub skills_wanted: Vec<String>,
    pub project_id: Option<Uuid>,
}

/// Staff create an activity; they are its organiser.
pub async fn create_activity(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewActivity,
) -> ServiceResult<activity::Model> {
    let grant = policy::authorize(
        db,
        actor,
        input.community_id,
        Permission::ManageVolunteering,
    )
    .await?;
    let title = validate::text("title", &input.title, 100)?;
    let description = optional_text("description", input.description.as_deref(), 2000)?;
    let place = optional_text("place", input.place.as_deref(), 200)?;
    let now = Utc::now();
    if input.starts_at <= now {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "startsAt",
            "开始时间须晚于现在",
        ));
    }
    if input.ends_at <= input.starts_at {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "endsAt",
            "结束时间须晚于开始时间",
        ));
    }
    if input.ends_at - input.starts_at > Duration::hours(MAX_ACTIVITY_HOURS) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "endsAt",
            "一次活动不能超过24小时",
        ));
    }
    if !(1..=1000).contains(&input.capacity) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "capacity",
            "招募人数须在1到1000之间",
        ));
    }
    if !(0..=1000).contains(&input.points_per_hour) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "pointsPerHour",
            "每小时积分须在0到1000之间",
        ));
    }
    let skills = normalise_skills("skillsWanted", &input.skills_wanted)?.join("\n");
    if let Some(project_id) = input.project_id {
        // The project this activity serves: one the community created or delivers.
        let project = entity::lists::project::Entity::find_by_id(project_id)
            .one(db)
            .await?;
        let ours = project.is_some_and(|p| {
            p.community_id == input.community_id || p.delivering_community() == input.community_id
        });
        if !ours {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "projectId",
                "项目不存在或不属于本社区",
            ));
        }
    }
    let txn = begin_write(db).await?;
    let created = activity::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(input.community_id),
        organiser_id: Set(grant.user_id),
        project_id: Set(input.project_id),
        title: Set(title),
        description: Set(description),
        place: Set(place),
        starts_at: Set(input.starts_at),
        ends_at: Set(input.ends_at),
        capacity: Set(input.capacity),
        points_per_hour: Set(input.points_per_hour),
        skills_wanted: Set(skills),
        status: Set(ActivityStatus::Open),
        check_code: Set(None),
        check_code_expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("activity", created.id, "create")
            .community(created.community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(activity_json(&created))),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> ServiceResult<Option<String>> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(Some(validate::text(field, v, max)?)),
        _ => Ok(None),
    }
}

fn activity_json(a: &activity::Model) -> serde_json::Value {
    json!({
        "title": a.title,
        "startsAt": a.starts_at,
        "endsAt": a.ends_at,
        "capacity": a.capacity,
        "pointsPerHour": a.points_per_hour,
        "project": a.project_id,
        "status": a.status.to_value(),
    })
}

/// An activity, for anyone who may use the community's credits.
pub async fn visible_activity(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
) -> ServiceResult<activity::Model> {
    actor.user_id()?;
    let found = activity::Entity::find_by_id(activity_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("活动"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::UseCredits) {
        return Err(ServiceError::NotFound("活动"));
    }
    Ok(found)
}

pub async fn list_activities(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<activity::Model>> {
    policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    let base = activity::Entity::find().filter(activity::Column::CommunityId.eq(community_id));
    Ok(paginate(db, base, Order::NewestFirst, page).await?)
}

/// How many volunteers are signed up and waiting.
pub async fn signup_counts(
    db: &DatabaseConnection,
    activity_id: Uuid,
) -> ServiceResult<(u64, u64)> {
    let count = |status| {
        activity_signup::Entity::find()
            .filter(activity_signup::Column::ActivityId.eq(activity_id))
            .filter(activity_signup::Column::Status.eq(status))
            .count(db)
    };
    Ok((
        count(SignupStatus::SignedUp).await?,
        count(SignupStatus::Waitlisted).await?,
    ))
}

pub async fn signup_of(
    db: &DatabaseConnection,
    activity_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<Option<activity_signup::Model>> {
    Ok(activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(activity_id))
        .filter(activity_signup::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// Takes the activity's row lock for the rest of the transaction (the
/// conditional UPDATE locks it on PostgreSQL; SQLite writers are serial).
async fn lock_open_activity<C: ConnectionTrait>(txn: &C, activity_id: Uuid) -> ServiceResult<()> {
    let done = activity::Entity::update_many()
        .col_expr(activity::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(activity::Column::Id.eq(activity_id))
        .filter(activity::Column::Status.eq(ActivityStatus::Open))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    Ok(())
}

/// A volunteer signs up: a place while there is one, else the waiting list.
pub async fn sign_up(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
) -> ServiceResult<(activity::Model, activity_signup::Model)> {
    let found = visible_activity(db, actor, activity_id).await?;
    let grant = policy::authorize(db, actor, found.community_id, Permission::Volunteer).await?;
    if !grant.roles.contains(&Role::Volunteer) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != ActivityStatus::Open {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    let now = Utc::now();
    if now >= found.starts_at {
        return Err(ServiceError::invalid_state(
            Reason::ActivityStarted,
            "活动已开始，不能再报名",
        ));
    }
    let txn = begin_write(db).await?;
    lock_open_activity(&txn, found.id).await?;
    let existing = activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(found.id))
        .filter(activity_signup::Column::UserId.eq(grant.user_id))
        .one(&txn)
        .await?;
    if existing
        .as_ref()
        .is_some_and(|e| e.status != SignupStatus::Cancelled)
    {
        return Err(ServiceError::conflict(
            Reason::AlreadySignedUp,
            "您已报名该活动",
        ));
    }
    let taken = activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(found.id))
        .filter(activity_signup::Column::Status.eq(SignupStatus::SignedUp))
        .count(&txn)
        .await?;
    let status = if taken < found.capacity as u64 {
        SignupStatus::SignedUp
    } else {
        SignupStatus::Waitlisted
    };
    let saved = match existing {
        Some(existing) => {
            let mut active: activity_signup::ActiveModel = existing.into();
            active.status = Set(status);
            active.queued_at = Set(now);
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            activity_signup::ActiveModel {
                id: Set(Uuid::now_v7()),
                community_id: Set(found.community_id),
                activity_id: Set(found.id),
                user_id: Set(grant.user_id),
                status: Set(status),
                queued_at: Set(now),
                checked_in_at: Set(None),
                checked_out_at: Set(None),
                auto_closed: Set(false),
                confirmed_minutes: Set(None),
                credited_minutes: Set(None),
                correction_reason: Set(None),
                confirmed_by: Set(None),
                confirmed_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::record(
        &txn,
        AuditEntry::new("activity_signup", saved.id, "sign_up")
            .community(found.community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(json!({"status": status.to_value()}))),
    )
    .await?;
    txn.commit().await?;
    Ok((found, saved))
}

/// A volunteer cancels before the start; the first on the waiting list
/// takes a freed place.
pub async fn cancel_sign_up(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
) -> ServiceResult<(activity::Model, activity_signup::Model)> {
    let found = visible_activity(db, actor, activity_id).await?;
    let user_id = actor.user_id()?;
    let now = Utc::now();
    let txn = begin_write(db).await?;
    lock_open_activity(&txn, found.id).await?;
    let signup = activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(found.id))
        .filter(activity_signup::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("报名记录"))?;
    if signup.status == SignupStatus::Cancelled {
        return Err(ServiceError::invalid_state(
            Reason::NotSignedUp,
            "您已取消报名",
        ));
    }
    if now >= found.starts_at {
        return Err(ServiceError::invalid_state(
            Reason::ActivityStarted,
            "活动已开始，不能取消报名",
        ));
    }
    let was = signup.status;
    let mut active: activity_signup::ActiveModel = signup.clone().into();
    active.status = Set(SignupStatus::Cancelled);
    active.updated_at = Set(now);
    let saved = active.update(&txn).await?;
    audit::record(
        &txn,
        AuditEntry::new("activity_signup", saved.id, "cancel")
            .community(found.community_id)
            .actor(Some(user_id))
            .change(
                Some(json!({"status": was.to_value()})),
                Some(json!({"status": "CANCELLED"})),
            ),
    )
    .await?;
    if was == SignupStatus::SignedUp {
        let next = activity_signup::Entity::find()
            .filter(activity_signup::Column::ActivityId.eq(found.id))
            .filter(activity_signup::Column::Status.eq(SignupStatus::Waitlisted))
            .order_by_asc(activity_signup::Column::QueuedAt)
            .order_by_asc(activity_signup::Column::Id)
            .one(&txn)
            .await?;
        if let Some(next) = next {
            let mut promoted: activity_signup::ActiveModel = next.into();
            promoted.status = Set(SignupStatus::SignedUp);
            promoted.updated_at = Set(now);
            let promoted = promoted.update(&txn).await?;
            audit::record(
                &txn,
                AuditEntry::new("activity_signup", promoted.id, "promote")
                    .community(found.community_id)
                    .change(
                        Some(json!({"status": "WAITLISTED"})),
                        Some(json!({"status": "SIGNED_UP"})),
                    ),
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok((found, saved))
}

/// The organiser or staff cancel an activity before it starts, with a
/// reason; sign-ups stay as they were (nothing can be confirmed for it).
pub async fn cancel_activity(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    reason: &str,
) -> ServiceResult<activity::Model> {
    let found = visible_activity(db, actor, activity_id).await?;
    let user_id = require_organiser(db, actor, &found).await?;
    let reason = validate::text("reason", reason, 500)?;
    let now = Utc::now();
    if now >= found.starts_at {
        return Err(ServiceError::invalid_state(
            Reason::ActivityStarted,
            "活动已开始，不能取消",
        ));
    }
    let txn = begin_write(db).await?;
    let done = activity::Entity::update_many()
        .col_expr(
            activity::Column::Status,
            Expr::value(ActivityStatus::Cancelled),
        )
        .col_expr(activity::Column::UpdatedAt, Expr::value(now))
        .filter(activity::Column::Id.eq(found.id))
        .filter(activity::Column::Status.eq(ActivityStatus::Open))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("activity", found.id, "cancel")
            .community(found.community_id)
            .actor(Some(user_id))
            .change(
                Some(json!({"status": "OPEN"})),
                Some(json!({"status": "CANCELLED", "reason": reason})),
            ),
    )
    .await?;
    let saved = activity::Entity::find_by_id(found.id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("活动"))?;
    txn.commit().await?;
    Ok(saved)
}

// ---------- attendance ----------

fn check_window(found: &activity::Model) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        found.starts_at - Duration::minutes(CHECK_WINDOW_MINUTES),
        found.ends_at + Duration::minutes(CHECK_WINDOW_MINUTES),
    )
}

fn require_in_window(found: &activity::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    let (open, close) = check_window(found);
    if now < open || now > close {
        return Err(ServiceError::invalid_state(
            Reason::OutsideCheckInWindow,
            "只能在活动开始前30分钟到结束后30分钟之间签到签退",
        ));
    }
    Ok(())
}

/// The organiser (or staff) may run the activity's attendance.
async fn require_organiser(
    db: &DatabaseConnection,
    actor: &Actor,
    found: &activity::Model,
) -> ServiceResult<Uuid> {
    let standing = policy::standing(db, actor, found.community_id).await?;
    let user_id = standing.user_id;
    if (found.organiser_id == user_id && standing.is_member())
        || standing.allows(Permission::ManageVolunteering)
    {
        Ok(user_id)
    } else {
        Err(ServiceError::Forbidden(Reason::NotPermitted))
    }
}

/// The organiser shows a fresh check-in/out code, valid for 10 minutes and
/// only around the activity.
pub async fn show_check_code(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<activity::Model> {
    let found = visible_activity(db, actor, activity_id).await?;
    let user_id = require_organiser(db, actor, &found).await?;
    if found.status != ActivityStatus::Open {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    require_in_window(&found, now)?;
    let (_, close) = check_window(&found);
    let expires = (now + Duration::minutes(CHECK_CODE_MINUTES)).min(close);
    let txn = begin_write(db).await?;
    let mut active: activity::ActiveModel = found.clone().into();
    active.check_code = Set(Some(random_digits(6)));
    active.check_code_expires_at = Set(Some(expires));
    active.updated_at = Set(now);
    let saved = active.update(&txn).await?;
    audit::record(
        &txn,
        AuditEntry::new("activity", found.id, "show_check_code")
            .community(found.community_id)
            .actor(Some(user_id))
            .change(None, Some(json!({"codeExpiresAt": expires}))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    In,
    Out,
}

/// A volunteer checks in or out with the organiser's code.
pub async fn check_with_code(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    code: &str,
    check: Check,
    now: DateTime<Utc>,
) -> ServiceResult<activity_signup::Model> {
    let found = visible_activity(db, actor, activity_id).await?;
    let user_id = actor.user_id()?;
    require_in_window(&found, now)?;
    let valid = matches!(
        (&found.check_code, found.check_code_expires_at),
        (Some(expected), Some(expires)) if expected == code.trim() && now <= expires
    );
    if !valid {
        return Err(ServiceError::bad_input(
            Reason::CheckInCodeWrong,
            "code",
            "签到码不正确或已过期",
        ));
    }
    record_check(db, &found, user_id, user_id, check, now).await
}

/// The organiser checks in or out a volunteer who is present.
pub async fn check_by_organiser(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    volunteer_id: Uuid,
    check: Check,
    now: DateTime<Utc>,
) -> ServiceResult<activity_signup::Model> {
    let found = visible_activity(db, actor, activity_id).await?;
    let organiser = require_organiser(db, actor, &found).await?;
    require_in_window(&found, now)?;
    record_check(db, &found, volunteer_id, organiser, check, now).await
}

async fn record_check(
    db: &DatabaseConnection,
    found: &activity::Model,
    volunteer_id: Uuid,
    actor_id: Uuid,
    check: Check,
    now: DateTime<Utc>,
) -> ServiceResult<activity_signup::Model> {
    if found.status != ActivityStatus::Open {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    let signup = signup_of(db, found.id, volunteer_id)
        .await?
        .filter(|s| s.status == SignupStatus::SignedUp)
        .ok_or_else(|| {
            ServiceError::invalid_state(Reason::NotSignedUp, "没有该活动的有效报名，不能签到")
        })?;
    let txn = begin_write(db).await?;
    let mut update = activity_signup::Entity::update_many()
        .col_expr(activity_signup::Column::UpdatedAt, Expr::value(now))
        .filter(activity_signup::Column::Id.eq(signup.id));
    let (action, reason, refused) = match check {
        Check::In => {
            update = update
                .col_expr(activity_signup::Column::CheckedInAt, Expr::value(now))
                .filter(activity_signup::Column::CheckedInAt.is_null());
            ("check_in", Reason::AlreadyCheckedIn, "已经签到过了")
        }
        Check::Out => {
            update = update
                .col_expr(activity_signup::Column::CheckedOutAt, Expr::value(now))
                .filter(activity_signup::Column::CheckedInAt.is_not_null())
                .filter(activity_signup::Column::CheckedOutAt.is_null());
            ("check_out", Reason::CheckOutRefused, "尚未签到或已经签退")
        }
    };
    if update.exec(&txn).await?.rows_affected != 1 {
        return Err(ServiceError::invalid_state(reason, refused));
    }
    audit::record(
        &txn,
        AuditEntry::new("activity_signup", signup.id, action)
            .community(found.community_id)
            .actor(Some(actor_id))
            .change(None, Some(json!({"at": now, "volunteer": volunteer_id}))),
    )
    .await?;
    txn.commit().await?;
    signup_of(db, found.id, volunteer_id)
        .await?
        .ok_or(ServiceError::NotFound("报名记录"))
}

/// Closes, as of `now`, every check-in left open after its activity ended:
/// the check-out is set to the end and flagged for staff. Returns how many.
pub async fn close_unfinished_attendance<C: ConnectionTrait>(
    db: &C,
    activity_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> ServiceResult<u64> {
    let mut query = activity_signup::Entity::find()
        .filter(activity_signup::Column::CheckedInAt.is_not_null())
        .filter(activity_signup::Column::CheckedOutAt.is_null());
    if let Some(id) = activity_id {
        query = query.filter(activity_signup::Column::ActivityId.eq(id));
    }
    let open = query.all(db).await?;
    let mut closed = 0;
    for signup in open {
        let Some(found) = activity::Entity::find_by_id(signup.activity_id)
            .one(db)
            .await?
        else {
            continue;
        };
        if found.ends_at > now {
            continue;
        }
        let done = activity_signup::Entity::update_many()
            .col_expr(
                activity_signup::Column::CheckedOutAt,
                Expr::value(found.ends_at),
            )
            .col_expr(activity_signup::Column::AutoClosed, Expr::value(true))
            .col_expr(activity_signup::Column::UpdatedAt, Expr::value(now))
            .filter(activity_signup::Column::Id.eq(signup.id))
            .filter(activity_signup::Column::CheckedOutAt.is_null())
            .exec(db)
            .await?;
        if done.rows_affected == 1 {
            closed += 1;
            audit::record(
                db,
                AuditEntry::new("activity_signup", signup.id, "auto_check_out")
                    .community(signup.community_id)
                    .change(None, Some(json!({"at": found.ends_at, "flagged": true}))),
            )
            .await?;
        }
    }
    Ok(closed)
}

/// The scheduler closes forgotten check-outs of every ended activity.
pub async fn close_ended_activities(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> ServiceResult<u64> {
    let txn = begin_write(db).await?;
    let closed = close_unfinished_attendance(&txn, None, now).await?;
    txn.commit().await?;
    Ok(closed)
}

/// The attended interval, clipped to the activity's window.
pub fn attended_interval(
    found: &activity::Model,
    signup: &activity_signup::Model,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = signup.checked_in_at?.max(found.starts_at);
    let end = signup.checked_out_at?.min(found.ends_at);
    (end > start).then_some((start, end))
}

/// Whole minutes attended (0 when the attendance is incomplete).
pub fn attended_minutes(found: &activity::Model, signup: &activity_signup::Model) -> i64 {
    attended_interval(found, signup)
        .map(|(start, end)| (end - start).num_minutes())
        .unwrap_or(0)
}

/// The activity's signups, for its organiser and staff.
pub async fn list_signups(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
) -> ServiceResult<(activity::Model, Vec<activity_signup::Model>)> {
    let found = visible_activity(db, actor, activity_id).await?;
    require_organiser(db, actor, &found).await?;
    let rows = activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(found.id))
        .order_by_asc(activity_signup::Column::QueuedAt)
        .order_by_asc(activity_signup::Column::Id)
        .all(db)
        .await?;
    Ok((found, rows))
}

// ---------- confirming service ----------

#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub user_id: Uuid,
    pub minutes: i32,
    /// Required when the minutes differ from the attendance record.
    pub reason: Option<String>,
}

/// The calendar day (Asia/Shanghai) an activity counts towards for the daily cap.
fn local_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    FixedOffset::east_opt(8 * 3600)
        .map(|offset| at.with_timezone(&offset).date_naive())
        .unwrap_or_else(|| at.date_naive())
}

/// Staff confirm the minutes each volunteer served once the activity has
/// ended, which posts their points (EARN, issuing → volunteer). Minutes
/// that differ from the attendance need a reason; nobody confirms their own
/// minutes; minutes overlapping another confirmed activity of the volunteer
/// are refused; minutes above the community's daily cap earn no points;
/// points that would lift a balance above the cap go to the donation pool.
///
/// Validate → plan → apply. The points a volunteer earns depend on what the
/// transaction reads (their minutes credited elsewhere that day, their
/// balance), so the plan is made per volunteer inside it, by pure functions
/// (`plan_credit`, `split_at_cap`).
pub async fn confirm_service(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    records: &[ServiceRecord],
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<PostingView>> {
    let valid = validate_confirmation(db, actor, activity_id, records, idempotency_key).await?;
    if let Some(Claim::Replay(ids)) = idempotency::lookup(db, &valid.request).await? {
        return replay_credits(db, &ids).await;
    }
    check_confirmable(&valid.activity, now)?;
    let rules = settings::rules(db, valid.activity.community_id).await?;
    apply_confirmation(db, valid, &rules, now).await
}

/// A confirmation that passed the checks on its input and the caller.
struct ValidConfirmation {
    activity: activity::Model,
    confirmer: Uuid,
    /// Each with its reason trimmed (`None` when blank).
    records: Vec<ServiceRecord>,
    request: Request,
}

/// The activity, the caller's permission, and the records: 1 to 200, one
/// per volunteer, never the caller's own, minutes within the activity.
async fn validate_confirmation(
    db: &DatabaseConnection,
    actor: &Actor,
    activity_id: Uuid,
    records: &[ServiceRecord],
    idempotency_key: &str,
) -> ServiceResult<ValidConfirmation> {
    actor.user_id()?;
    let found = activity::Entity::find_by_id(activity_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("活动"))?;
    let grant =
        policy::authorize(db, actor, found.community_id, Permission::ConfirmService).await?;
    if records.is_empty() || records.len() > 200 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "records",
            "请填写1到200条服务记录",
        ));
    }
    let duration = (found.ends_at - found.starts_at).num_minutes();
    let mut fields = vec![found.id.to_string()];
    let mut cleaned = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        if records[..i].iter().any(|r| r.user_id == record.user_id) {
            return Err(ServiceError::bad_input(
                Reason::DuplicateInInput,
                "records",
                "同一志愿者只能出现一次",
            ));
        }
        if record.user_id == grant.user_id {
            return Err(ServiceError::Forbidden(Reason::NotPermitted));
        }
        if record.minutes <= 0 || i64::from(record.minutes) > duration {
            return Err(ServiceError::bad_input(
                Reason::ValueOutOfRange,
                "records",
                format!("服务时长须在1到{duration}分钟之间"),
            ));
        }
        let reason = optional_text("reason", record.reason.as_deref(), 500)?;
        fields.push(format!(
            "{}:{}:{}",
            record.user_id,
            record.minutes,
            reason.clone().unwrap_or_default()
        ));
        cleaned.push(ServiceRecord {
            user_id: record.user_id,
            minutes: record.minutes,
            reason,
        });
    }
    let request = Request::new(
        found.community_id,
        idempotency_key,
        "confirm",
        grant.user_id,
        &fields,
    )?;
    Ok(ValidConfirmation {
        activity: found,
        confirmer: grant.user_id,
        records: cleaned,
        request,
    })
}

/// Pure: minutes are confirmed once the activity has ended, and never for a
/// cancelled one.
fn check_confirmable(found: &activity::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    if now < found.ends_at {
        return Err(ServiceError::invalid_state(
            Reason::ActivityNotEnded,
            "活动结束后才能确认服务时长",
        ));
    }
    if found.status != ActivityStatus::Open {
        return Err(ServiceError::invalid_state(
            Reason::ActivityCancelled,
            "活动已取消",
        ));
    }
    Ok(())
}

/// What one volunteer's confirmed minutes earn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Credit {
    /// The minutes that count: the confirmed ones up to what is left of the
    /// daily cap.
    creditable: i64,
    /// `creditable` at the activity's points per hour, rounded down.
    points: i64,
}

/// Pure: the minutes credited and the points earned for `minutes` confirmed
/// when `credited_today` minutes were already credited on that day.
fn plan_credit(
    minutes: i32,
    credited_today: i64,
    daily_cap_minutes: i32,
    points_per_hour: i32,
) -> Credit {
    let creditable = i64::from(minutes).min((i64::from(daily_cap_minutes) - credited_today).max(0));
    Credit {
        creditable,
        points: creditable * i64::from(points_per_hour) / 60,
    }
}

/// Pure: `points` split into what the member receives without passing the
/// balance cap, and the rest (for the donation pool).
fn split_at_cap(points: i64, balance: i64, balance_cap: Option<i32>) -> (i64, i64) {
    let to_member = match balance_cap {
        Some(cap) => points.min((i64::from(cap) - balance).max(0)),
        None => points,
    };
    (to_member, points - to_member)
}

/// The accounts a confirmation posts between, opened inside its
/// transaction in one order (issuing, pool, members): a refused request
/// leaves no account, and two confirmations cannot deadlock.
struct Accounts {
    issuing: Uuid,
    pool: Uuid,
}

/// Writes the confirmation in one transaction: the idempotency claim, the
/// accounts, the unfinished attendance closed, each volunteer's minutes and
/// postings, the request finished.
async fn apply_confirmation(
    db: &DatabaseConnection,
    valid: ValidConfirmation,
    rules: &credit_setting::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<PostingView>> {
    let found = &valid.activity;
    let txn = begin_write(db).await?;
    let key_id = match idempotency::claim(&txn, &valid.request).await? {
        Claim::Fresh(id) => id,
        Claim::Replay(ids) => {
            drop(txn);
            return replay_credits(db, &ids).await;
        }
    };
    // Opened only now, in this transaction, in this order.
    let issuing = ledger::issuing_account(&txn, found.community_id).await?;
    let pool = ledger::donation_pool(&txn, found.community_id).await?;
    let owners: Vec<Uuid> = valid.records.iter().map(|r| r.user_id).collect();
    let members = ledger::member_accounts(&txn, found.community_id, &owners).await?;
    let accounts = Accounts {
        issuing: issuing.id,
        pool: pool.id,
    };
    close_unfinished_attendance(&txn, Some(found.id), now).await?;
    let confirming = Confirming {
        found,
        confirmer: valid.confirmer,
        rules,
        now,
        key_id,
    };
    let mut posted = Vec::new();
    for (record, account) in valid.records.iter().zip(members) {
        let credit = confirm_record(&txn, &confirming, record).await?;
        if credit.points <= 0 {
            continue;
        }
        post_credit(
            &txn,
            &confirming,
            &accounts,
            account.id,
            credit,
            &mut posted,
        )
        .await?;
    }
    let ids: Vec<Uuid> = posted.iter().map(|p| p.id).collect();
    idempotency::finish(&txn, key_id, &ids).await?;
    txn.commit().await?;
    Ok(posted
        .into_iter()
        .map(|posting| PostingView {
            account_id: posting.to_account_id,
            posting,
        })
        .collect())
}

/// What every volunteer's confirmation in one request shares.
struct Confirming<'a> {
    found: &'a activity::Model,
    confirmer: Uuid,
    rules: &'a credit_setting::Model,
    now: DateTime<Utc>,
    key_id: Uuid,
}

/// Checks one volunteer's sign-up and attendance, records their confirmed
/// and credited minutes (and its audit entry), and returns what they earn.
async fn confirm_record<C: ConnectionTrait>(
    txn: &C,
    at: &Confirming<'_>,
    record: &ServiceRecord,
) -> ServiceResult<Credit> {
    let found = at.found;
    let signup = activity_signup::Entity::find()
        .filter(activity_signup::Column::ActivityId.eq(found.id))
        .filter(activity_signup::Column::UserId.eq(record.user_id))
        .filter(activity_signup::Column::Status.eq(SignupStatus::SignedUp))
        .one(txn)
        .await?
        .ok_or_else(|| {
            ServiceError::invalid_state(Reason::NotSignedUp, "该志愿者没有报名此活动")
        })?;
    if signup.confirmed_at.is_some() {
        return Err(ServiceError::invalid_state(
            Reason::HoursAlreadyConfirmed,
            "该志愿者的服务时长已经确认过",
        ));
    }
    let Some(interval) = attended_interval(found, &signup) else {
        return Err(ServiceError::invalid_state(
            Reason::AttendanceMissing,
            "该志愿者没有签到签退记录，请组织者先为其补签",
        ));
    };
    let attended = attended_minutes(found, &signup);
    if i64::from(record.minutes) != attended && record.reason.is_none() {
        return Err(ServiceError::bad_input(
            Reason::FieldRequired,
            "reason",
            format!("确认时长与签到记录（{attended}分钟）不一致时须填写修正理由"),
        ));
    }
    let (overlaps, credited_today) = confirmed_elsewhere(txn, found, &signup, interval).await?;
    if overlaps {
        return Err(ServiceError::invalid_state(
            Reason::HoursOverlap,
            "该志愿者在同一时段已有另一活动的服务时长被确认",
        ));
    }
    let credit = plan_credit(
        record.minutes,
        credited_today,
        at.rules.daily_cap_minutes,
        found.points_per_hour,
    );
    let done = activity_signup::Entity::update_many()
        .col_expr(
            activity_signup::Column::ConfirmedMinutes,
            Expr::value(record.minutes),
        )
        .col_expr(
            activity_signup::Column::CreditedMinutes,
            Expr::value(credit.creditable as i32),
        )
        .col_expr(
            activity_signup::Column::CorrectionReason,
            Expr::value(record.reason.clone()),
        )
        .col_expr(
            activity_signup::Column::ConfirmedBy,
            Expr::value(at.confirmer),
        )
        .col_expr(activity_signup::Column::ConfirmedAt, Expr::value(at.now))
        .col_expr(activity_signup::Column::UpdatedAt, Expr::value(at.now))
        .filter(activity_signup::Column::Id.eq(signup.id))
        .filter(activity_signup::Column::ConfirmedAt.is_null())
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::HoursAlreadyConfirmed,
            "该志愿者的服务时长已经确认过",
        ));
    }
    audit::record(
        txn,
        AuditEntry::new("activity_signup", signup.id, "confirm")
            .community(found.community_id)
            .actor(Some(at.confirmer))
            .change(
                None,
                Some(json!({
                    "minutes": record.minutes,
                    "attended": attended,
                    "credited": credit.creditable,
                    "reason": record.reason,
                })),
            ),
    )
    .await?;
    Ok(credit)
}

/// Posts one volunteer's points: to them up to the balance cap, the rest to
/// the donation pool.
async fn post_credit<C: ConnectionTrait>(
    txn: &C,
    at: &Confirming<'_>,
    accounts: &Accounts,
    member: Uuid,
    credit: Credit,
    posted: &mut Vec<entity::credits::posting::Model>,
) -> ServiceResult<()> {
    let found = at.found;
    let balance = point_account::Entity::find_by_id(member)
        .one(txn)
        .await?
        .map(|a| a.balance)
        .unwrap_or(0);
    let (to_member, to_pool) = split_at_cap(credit.points, balance, at.rules.balance_cap);
    let memo = format!("{}（{}分钟）", found.title, credit.creditable);
    if to_member > 0 {
        let mut movement = Movement::new(
            PostingKind::Earn,
            to_member,
            accounts.issuing,
            member,
            at.now,
        );
        movement.actor_id = Some(at.confirmer);
        movement.memo = Some(memo.clone());
        movement.minutes = Some(credit.creditable as i32);
        movement.activity_id = Some(found.id);
        movement.request_id = Some(at.key_id);
        movement.to_cap = at.rules.balance_cap.map(i64::from);
        posted.push(ledger::post(txn, found.community_id, movement).await?);
    }
    if to_pool > 0 {
        let mut movement = Movement::new(
            PostingKind::Earn,
            to_pool,
            accounts.issuing,
            accounts.pool,
            at.now,
        );
        movement.actor_id = Some(at.confirmer);
        movement.memo = Some(format!("{memo}：超出个人积分上限，转入社区公益池"));
        movement.activity_id = Some(found.id);
        movement.request_id = Some(at.key_id);
        posted.push(ledger::post(txn, found.community_id, movement).await?);
    }
    Ok(())
}

async fn replay_credits(db: &DatabaseConnection, ids: &[Uuid]) -> ServiceResult<Vec<PostingView>> {
    Ok(ledger::postings_by_ids(db, ids)
        .await?
        .into_iter()
        .map(|posting| PostingView {
            account_id: posting.to_account_id,
            posting,
        })
        .collect())
}

/// Whether the volunteer's other confirmed service overlaps `interval`, and
/// how many minutes were credited to them on the activity's day already.
async fn confirmed_elsewhere<C: ConnectionTrait>(
    txn: &C,
    found: &activity::Model,
    signup: &activity_signup::Model,
    interval: (DateTime<Utc>, DateTime<Utc>),
) -> ServiceResult<(bool, i64)> {
    let others = activity_signup::Entity::find()
        .filter(activity_signup::Column::CommunityId.eq(found.community_id))
        .filter(activity_signup::Column::UserId.eq(signup.user_id))
        .filter(activity_signup::Column::ConfirmedAt.is_not_null())
        .filter(activity_signup::Column::Id.ne(signup.id))
        .all(txn)
        .await?;
    let activity_ids: Vec<Uuid> = others.iter().map(|s| s.activity_id).collect();
    let activities = activity::Entity::find()
        .filter(activity::Column::Id.is_in(activity_ids))
        .all(txn)
        .await?;
    let day = local_day(found.starts_at);
    let mut overlaps = false;
    let mut credited = 0i64;
    for other in &others {
        let Some(other_activity) = activities.iter().find(|a| a.id == other.activity_id) else {
            continue;
        };
        if attended_interval(other_activity, other)
            .is_some_and(|(start, end)| start < interval.1 && interval.0 < end)
        {
            overlaps = true;
        }
        if local_day(other_activity.starts_at) == day {
            credited += i64::from(other.credited_minutes.unwrap_or(0));
        }
    }
    Ok((overlaps, credited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_from_the_minutes_left_under_the_daily_cap() {
        // 90 minutes at 10 points an hour, nothing credited yet that day.
        assert_eq!(
            plan_credit(90, 0, 480, 10),
            Credit {
                creditable: 90,
                points: 15
            }
        );
        // Only 30 minutes left of the day's 480.
        assert_eq!(
            plan_credit(90, 450, 480, 10),
            Credit {
                creditable: 30,
                points: 5
            }
        );
        // The cap already passed: no minutes count, no points.
        assert_eq!(
            plan_credit(90, 500, 480, 10),
            Credit {
                creditable: 0,
                points: 0
            }
        );
        // Points are rounded down: 7 minutes at 10 an hour is 1 point.
        assert_eq!(plan_credit(7, 0, 480, 10).points, 1);
        assert_eq!(plan_credit(5, 0, 480, 10).points, 0);
    }

    #[test]
    fn points_above_the_balance_cap_go_to_the_pool() {
        assert_eq!(split_at_cap(15, 100, None), (15, 0));
        assert_eq!(split_at_cap(15, 100, Some(110)), (10, 5));
        assert_eq!(split_at_cap(15, 100, Some(200)), (15, 0));
        // A balance already above the cap receives nothing.
        assert_eq!(split_at_cap(15, 300, Some(200)), (0, 15));
    }

    #[test]
    fn only_an_ended_open_activity_is_confirmed() {
        let ends_at = Utc::now();
        let mut found = activity::Model {
            id: Uuid::now_v7(),
            community_id: Uuid::now_v7(),
            organiser_id: Uuid::now_v7(),
            project_id: None,
            title: "清扫".into(),
            description: None,
            place: None,
            starts_at: ends_at - Duration::hours(2),
            ends_at,
            capacity: 10,
            points_per_hour: 10,
            skills_wanted: String::new(),
            status: ActivityStatus::Open,
            check_code: None,
            check_code_expires_at: None,
            created_at: ends_at,
            updated_at: ends_at,
        };
        assert!(check_confirmable(&found, ends_at).is_ok());
        let early = check_confirmable(&found, ends_at - Duration::minutes(1));
        assert_eq!(
            early.err().map(|e| e.reason()),
            Some(Reason::ActivityNotEnded)
        );
        found.status = ActivityStatus::Cancelled;
        assert_eq!(
            check_confirmable(&found, ends_at).err().map(|e| e.reason()),
            Some(Reason::ActivityCancelled)
        );
    }
}
