//! Council meetings: time, place (in person, online or both), an agenda of
//! accepted proposals, attendance by check-in, quorum, minutes.
//!
//! A council member checks in with the code staff show at the meeting, or
//! staff check in a member who is present; either only from
//! [`CHECK_IN_OPENS_BEFORE`] before the start until the end. The quorum is
//! met when the members checked in reach the meeting's quorum.

use chrono::{DateTime, Duration, Utc};
use entity::consultation::meeting::{self, MeetingMode};
use entity::consultation::meeting_attendance::{self, AttendanceMethod};
use entity::consultation::proposal::ProposalStatus;
use entity::consultation::{meeting_agenda_item, proposal};
use entity::org::user;
use rand::Rng;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Standing};
use crate::service::consultation::{council, outbox};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

pub const CHECK_IN_OPENS_BEFORE: Duration = Duration::minutes(30);
pub const DEFAULT_LENGTH: Duration = Duration::hours(2);
pub const MAX_AGENDA: usize = 50;

pub struct ScheduleMeeting<'a> {
    pub council_id: Uuid,
    pub title: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub mode: MeetingMode,
    pub location: Option<&'a str>,
    pub online_url: Option<&'a str>,
    pub proposal_ids: &'a [Uuid],
    pub quorum: i32,
}

/// A meeting as one viewer may see it: the check-in code is for staff, and
/// minutes are shown to members once published.
#[derive(Debug, Clone)]
pub struct MeetingView {
    pub meeting: meeting::Model,
    pub staff_view: bool,
}

impl MeetingView {
    pub fn check_in_code(&self) -> Option<&str> {
        self.staff_view
            .then_some(self.meeting.check_in_code.as_str())
    }

    pub fn minutes(&self) -> Option<&str> {
        if self.staff_view || self.meeting.minutes_published_at.is_some() {
            self.meeting.minutes.as_deref()
        } else {
            None
        }
    }
}

fn view(meeting: meeting::Model, standing: &Standing) -> MeetingView {
    MeetingView {
        meeting,
        staff_view: standing.allows(Permission::ManageConsultation),
    }
}

pub async fn schedule_meeting(
    db: &DatabaseConnection,
    actor: &Actor,
    input: ScheduleMeeting<'_>,
) -> ServiceResult<MeetingView> {
    actor.user_id()?;
    let found_council = council::find_council(db, input.council_id).await?;
    let standing = policy::standing(db, actor, found_council.community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound("议事会"));
    }
    if !standing.allows(Permission::ManageConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let title = validate::text("title", input.title, 100)?;
    let now = Utc::now();
    if input.starts_at < now - Duration::hours(1) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "startsAt",
            "会议时间不能早于现在",
        ));
    }
    let ends_at = input.ends_at.unwrap_or(input.starts_at + DEFAULT_LENGTH);
    if ends_at <= input.starts_at || ends_at - input.starts_at > Duration::hours(12) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "endsAt",
            "结束时间须晚于开始时间，且会议不超过12小时",
        ));
    }
    let location = optional_text("location", input.location, 200)?;
    let online_url = optional_text("onlineUrl", input.online_url, 500)?;
    if matches!(input.mode, MeetingMode::Online | MeetingMode::Hybrid) && online_url.is_none() {
        return Err(ServiceError::bad_input(
            Reason::FieldRequired,
            "onlineUrl",
            "线上会议请填写会议链接",
        ));
    }
    let members = council::member_ids_of(db, found_council.id).await?.len() as i32;
    if input.quorum < 1 || input.quorum > members {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quorum",
            format!("法定人数须在1到议事会成员数（{members}）之间"),
        ));
    }
    let mut agenda: Vec<Uuid> = Vec::new();
    for id in input.proposal_ids {
        if !agenda.contains(id) {
            agenda.push(*id);
        }
    }
    if agenda.len() > MAX_AGENDA {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "proposalIds",
            format!("议程最多{MAX_AGENDA}项"),
        ));
    }
    let on_agenda = proposal::Entity::find()
        .filter(proposal::Column::Id.is_in(agenda.clone()))
        .filter(proposal::Column::CommunityId.eq(found_council.community_id))
        .filter(proposal::Column::Status.is_in([ProposalStatus::Accepted, ProposalStatus::InVote]))
        .count(db)
        .await? as usize;
    if on_agenda != agenda.len() {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "proposalIds",
            "议程只能列入本社区已受理（或表决中）的议题",
        ));
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    let txn = begin_write(db).await?;
    let created = meeting::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(found_council.community_id),
        council_id: Set(found_council.id),
        title: Set(title),
        starts_at: Set(input.starts_at),
        ends_at: Set(ends_at),
        mode: Set(input.mode),
        location: Set(location),
        online_url: Set(online_url),
        quorum: Set(input.quorum),
        check_in_code: Set(code),
        minutes: Set(None),
        minutes_published_at: Set(None),
        created_by: Set(standing.user_id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if !agenda.is_empty() {
        meeting_agenda_item::Entity::insert_many(agenda.iter().enumerate().map(|(i, id)| {
            meeting_agenda_item::ActiveModel {
                meeting_id: Set(created.id),
                proposal_id: Set(*id),
                community_id: Set(created.community_id),
                position: Set(i as i32 + 1),
            }
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    audit::record(
        &txn,
        AuditEntry::new("meeting", created.id, "schedule")
            .community(created.community_id)
            .actor(Some(standing.user_id))
            .change(
                None,
                Some(json!({"council": found_council.id, "title": created.title,
                            "startsAt": created.starts_at, "agenda": agenda, "quorum": created.quorum})),
            ),
    )
    .await?;
    outbox::enqueue(
        &txn,
        created.community_id,
        "MEETING_SCHEDULED",
        json!({"meetingId": created.id, "councilId": found_council.id,
               "title": created.title, "startsAt": created.starts_at}),
    )
    .await?;
    txn.commit().await?;
    Ok(view(created, &standing))
}

fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> ServiceResult<Option<String>> {
    match value {
        Some(text) if !text.trim().is_empty() => Ok(Some(validate::text(field, text, max)?)),
        _ => Ok(None),
    }
}

async fn load(
    db: &DatabaseConnection,
    actor: &Actor,
    meeting_id: Uuid,
) -> ServiceResult<(meeting::Model, Standing)> {
    actor.user_id()?;
    let found = meeting::Entity::find_by_id(meeting_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("会议"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound("会议"));
    }
    Ok((found, standing))
}

/// A council member checks in with the code (no `member_id`), or staff
/// check in a member who is present (`member_id`). Checking in twice is
/// harmless.
pub async fn check_in(
    db: &DatabaseConnection,
    actor: &Actor,
    meeting_id: Uuid,
    code: Option<&str>,
    member_id: Option<Uuid>,
) -> ServiceResult<MeetingView> {
    let (found, standing) = load(db, actor, meeting_id).await?;
    let (attendee, method, recorded_by) = match member_id {
        Some(member) => {
            if !standing.allows(Permission::ManageConsultation) {
                return Err(ServiceError::Forbidden(Reason::NotPermitted));
            }
            if !council::is_council_member(db, found.council_id, member).await? {
                return Err(ServiceError::bad_input(
                    Reason::ReferenceInvalid,
                    "userId",
                    "此人不是该议事会成员",
                ));
            }
            (member, AttendanceMethod::Staff, Some(standing.user_id))
        }
        None => {
            if !standing.is_member()
                || !council::is_council_member(db, found.council_id, standing.user_id).await?
            {
                return Err(ServiceError::Forbidden(Reason::NotPermitted));
            }
            match code.map(str::trim) {
                None | Some("") => {
                    return Err(ServiceError::bad_input(
                        Reason::FieldRequired,
                        "code",
                        "请输入会议签到码",
                    ));
                }
                Some(given) if given != found.check_in_code => {
                    return Err(ServiceError::bad_input(
                        Reason::CheckInCodeWrong,
                        "code",
                        "签到码不正确",
                    ));
                }
                Some(_) => {}
            }
            (standing.user_id, AttendanceMethod::Code, None)
        }
    };
    let now = Utc::now();
    if now < found.starts_at - CHECK_IN_OPENS_BEFORE || now > found.ends_at {
        return Err(ServiceError::invalid_state(
            Reason::OutsideCheckInWindow,
            "不在签到时间内（会前30分钟至会议结束）",
        ));
    }
    let txn = begin_write(db).await?;
    let inserted = meeting_attendance::Entity::insert(meeting_attendance::ActiveModel {
        meeting_id: Set(meeting_id),
        user_id: Set(attendee),
        community_id: Set(found.community_id),
        method: Set(method),
        recorded_by: Set(recorded_by),
        checked_in_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            meeting_attendance::Column::MeetingId,
            meeting_attendance::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 1 {
        audit::record(
            &txn,
            AuditEntry::new("meeting", meeting_id, "check_in")
                .community(found.community_id)
                .actor(Some(standing.user_id))
                .change(
                    None,
                    Some(json!({"member": attendee, "method": method.to_value()})),
                ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(view(found, &standing))
}

/// Staff write (or rewrite) the minutes; members see them once published.
pub async fn record_minutes(
    db: &DatabaseConnection,
    actor: &Actor,
    meeting_id: Uuid,
    minutes: &str,
    publish: bool,
) -> ServiceResult<MeetingView> {
    let (found, standing) = load(db, actor, meeting_id).await?;
    if !standing.allows(Permission::ManageConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let minutes = validate::text("minutes", minutes, 20_000)?;
    if Utc::now() < found.starts_at {
        return Err(ServiceError::invalid_state(
            Reason::MeetingNotStarted,
            "会议尚未开始，不能记录纪要",
        ));
    }
    let txn = begin_write(db).await?;
    let mut update = meeting::Entity::update_many()
        .col_expr(meeting::Column::Minutes, Expr::value(Some(minutes.clone())));
    if publish {
        update = update.col_expr(
            meeting::Column::MinutesPublishedAt,
            Expr::value(Some(Utc::now())),
        );
    }
    update
        .filter(meeting::Column::Id.eq(meeting_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEntry::new("meeting", meeting_id, if publish { "publish_minutes" } else { "minutes" })
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(json!({"minutes": found.minutes, "published": found.minutes_published_at})),
                Some(json!({"minutes": minutes, "published": publish || found.minutes_published_at.is_some()})),
            ),
    )
    .await?;
    let saved = meeting::Entity::find_by_id(meeting_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("会议"))?;
    if publish && found.minutes_published_at.is_none() {
        outbox::enqueue(
            &txn,
            found.community_id,
            "MINUTES_PUBLISHED",
            json!({"meetingId": meeting_id, "title": found.title}),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(view(saved, &standing))
}

pub async fn meeting(
    db: &DatabaseConnection,
    actor: &Actor,
    meeting_id: Uuid,
) -> ServiceResult<MeetingView> {
    let (found, standing) = load(db, actor, meeting_id).await?;
    Ok(view(found, &standing))
}

/// The community's meetings, latest first.
pub async fn list_meetings(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<MeetingView>> {
    let standing = policy::standing(db, actor, community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let condition = Condition::all().add(meeting::Column::CommunityId.eq(community_id));
    let rows = paginate(
        db,
        meeting::Entity::find().filter(condition),
        Order::NewestFirst,
        page,
    )
    .await?;
    Ok(rows.map(|m| view(m, &standing)))
}

pub async fn attendee_count(db: &DatabaseConnection, meeting_id: Uuid) -> ServiceResult<i64> {
    Ok(meeting_attendance::Entity::find()
        .filter(meeting_attendance::Column::MeetingId.eq(meeting_id))
        .count(db)
        .await? as i64)
}

pub async fn attendees(
    db: &DatabaseConnection,
    meeting_id: Uuid,
) -> ServiceResult<Vec<user::Model>> {
    let ids: Vec<Uuid> = meeting_attendance::Entity::find()
        .select_only()
        .column(meeting_attendance::Column::UserId)
        .filter(meeting_attendance::Column::MeetingId.eq(meeting_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?)
}

pub async fn agenda(
    db: &DatabaseConnection,
    meeting_id: Uuid,
) -> ServiceResult<Vec<proposal::Model>> {
    let items = meeting_agenda_item::Entity::find()
        .filter(meeting_agenda_item::Column::MeetingId.eq(meeting_id))
        .order_by_asc(meeting_agenda_item::Column::Position)
        .all(db)
        .await?;
    let proposals = proposal::Entity::find()
        .filter(proposal::Column::Id.is_in(items.iter().map(|i| i.proposal_id)))
        .all(db)
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| proposals.iter().find(|p| p.id == item.proposal_id).cloned())
        .collect())
}
