//! Proposals (议题): SUBMITTED → ELIGIBLE (seconded up to the community's
//! threshold) → ACCEPTED (staff) → IN_VOTE (a ballot opened) → PASSED / FAILED
//! (the ballot closed) → DONE (carried out), or MERGED into another proposal,
//! or REJECTED with a reason. Every transition is a conditional UPDATE on the
//! status it leaves, so two concurrent transitions cannot both win.

use std::collections::BTreeSet;

use chrono::Utc;
use entity::consultation::proposal::{self, ProposalStatus};
use entity::consultation::setting::SecondingKind;
use entity::consultation::{comment_report, proposal_comment, proposal_rating, proposal_second};
use entity::org::membership::{self, MembershipStatus};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Standing};
use crate::service::consultation::{outbox, settings};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

pub const TITLE_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 5_000;
pub const COMMENT_MAX: usize = 2_000;

fn state_json(p: &proposal::Model) -> serde_json::Value {
    json!({
        "status": p.status.to_value(),
        "secondCount": p.second_count,
        "mergedInto": p.merged_into_id,
        "reason": p.reject_reason,
    })
}

pub(crate) async fn find_proposal<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ServiceResult<proposal::Model> {
    proposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("议题"))
}

/// Loads a proposal and the caller's standing in its community; a caller who
/// may not see the community's consultation learns nothing of it.
async fn load(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<(proposal::Model, Standing)> {
    actor.user_id()?;
    let found = find_proposal(db, id).await?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound("议题"));
    }
    Ok((found, standing))
}

fn require(standing: &Standing, permission: Permission) -> ServiceResult<()> {
    if standing.allows(permission) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Reason::NotPermitted))
    }
}

// ---------- submitting and editing ----------

pub async fn submit_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    title: &str,
    description: &str,
) -> ServiceResult<proposal::Model> {
    let grant =
        policy::authorize(db, actor, community_id, Permission::TakePartInConsultation).await?;
    let title = validate::text("title", title, TITLE_MAX)?;
    let description = validate::text("description", description, DESCRIPTION_MAX)?;
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let created = proposal::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        author_id: Set(grant.user_id),
        title: Set(title),
        description: Set(description),
        status: Set(ProposalStatus::Submitted),
        second_count: Set(0),
        merged_into_id: Set(None),
        reject_reason: Set(None),
        decided_by: Set(None),
        done_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal", created.id, "submit")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(
                None,
                Some(json!({"status": "SUBMITTED", "title": created.title})),
            ),
    )
    .await?;
    // A community whose threshold is already met by nobody (it cannot be
    // below one) still needs a second, so a new proposal is never ELIGIBLE.
    txn.commit().await?;
    Ok(created)
}

/// The author edits the title and description until the first second.
pub async fn edit_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    title: &str,
    description: &str,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, id).await?;
    if found.author_id != standing.user_id {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let title = validate::text("title", title, TITLE_MAX)?;
    let description = validate::text("description", description, DESCRIPTION_MAX)?;
    let txn = begin_write(db).await?;
    let updated = proposal::Entity::update_many()
        .col_expr(proposal::Column::Title, Expr::value(title.clone()))
        .col_expr(proposal::Column::Description, Expr::value(description))
        .col_expr(proposal::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(proposal::Column::Id.eq(id))
        .filter(proposal::Column::Status.eq(ProposalStatus::Submitted))
        .filter(proposal::Column::SecondCount.eq(0))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ProposalLocked,
            "议题已有人附议或已进入审核，不能再修改",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("proposal", id, "edit")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(json!({"title": found.title})),
                Some(json!({"title": title})),
            ),
    )
    .await?;
    let saved = find_proposal(&txn, id).await?;
    txn.commit().await?;
    Ok(saved)
}

// ---------- seconding ----------

/// A resident seconds (附议) a proposal: once each, never the author. When
/// the seconds reach the community's threshold the proposal becomes ELIGIBLE.
pub async fn second_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, id).await?;
    require(&standing, Permission::TakePartInConsultation)?;
    let user_id = standing.user_id;
    if found.author_id == user_id {
        return Err(ServiceError::invalid_state(
            Reason::OwnProposal,
            "不能附议自己提出的议题",
        ));
    }
    let txn = begin_write(db).await?;
    proposal_second::ActiveModel {
        proposal_id: Set(id),
        user_id: Set(user_id),
        community_id: Set(found.community_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let counted = proposal::Entity::update_many()
        .col_expr(
            proposal::Column::SecondCount,
            Expr::col(proposal::Column::SecondCount).add(1),
        )
        .col_expr(proposal::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(proposal::Column::Id.eq(id))
        .filter(
            proposal::Column::Status.is_in([ProposalStatus::Submitted, ProposalStatus::Eligible]),
        )
        .exec(&txn)
        .await?;
    if counted.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::SecondingClosed,
            "该议题已不再征集附议",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("proposal", id, "second")
            .community(found.community_id)
            .actor(Some(user_id)),
    )
    .await?;
    let saved = promote_if_seconded(&txn, id, Some(user_id)).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Moves a SUBMITTED proposal to ELIGIBLE when its seconds reach the threshold.
async fn promote_if_seconded<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    actor_id: Option<Uuid>,
) -> ServiceResult<proposal::Model> {
    let current = find_proposal(txn, id).await?;
    if current.status != ProposalStatus::Submitted || !threshold_reached(txn, &current).await? {
        return Ok(current);
    }
    let moved = proposal::Entity::update_many()
        .col_expr(
            proposal::Column::Status,
            Expr::value(ProposalStatus::Eligible),
        )
        .filter(proposal::Column::Id.eq(id))
        .filter(proposal::Column::Status.eq(ProposalStatus::Submitted))
        .exec(txn)
        .await?;
    if moved.rows_affected == 1 {
        let after = find_proposal(txn, id).await?;
        audit::record(
            txn,
            AuditEntry::new("proposal", id, "eligible")
                .community(current.community_id)
                .actor(actor_id)
                .change(Some(state_json(&current)), Some(state_json(&after))),
        )
        .await?;
        outbox::enqueue(
            txn,
            current.community_id,
            "PROPOSAL_ELIGIBLE",
            json!({"proposalId": id, "title": current.title}),
        )
        .await?;
        return Ok(after);
    }
    find_proposal(txn, id).await
}

/// RESIDENTS n: at least n seconds. HOUSEHOLD_PERCENT p: the seconders'
/// distinct households are at least p% of the households that have an active
/// member.
pub(crate) async fn threshold_reached<C: ConnectionTrait>(
    db: &C,
    p: &proposal::Model,
) -> ServiceResult<bool> {
    let setting = settings::settings_of(db, p.community_id).await?;
    match setting.seconding_kind {
        SecondingKind::Residents => Ok(p.second_count >= setting.seconding_value),
        SecondingKind::HouseholdPercent => {
            let seconders: Vec<Uuid> = proposal_second::Entity::find()
                .select_only()
                .column(proposal_second::Column::UserId)
                .filter(proposal_second::Column::ProposalId.eq(p.id))
                .into_tuple()
                .all(db)
                .await?;
            let seconding_households = active_households(db, p.community_id, Some(seconders))
                .await?
                .len() as i64;
            let all_households = active_households(db, p.community_id, None).await?.len() as i64;
            Ok(all_households > 0
                && seconding_households * 100
                    >= i64::from(setting.seconding_value) * all_households)
        }
    }
}

/// Distinct households of ACTIVE members (of `users` only, when given).
async fn active_households<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    users: Option<Vec<Uuid>>,
) -> ServiceResult<BTreeSet<Uuid>> {
    let mut query = membership::Entity::find()
        .select_only()
        .column(membership::Column::HouseholdId)
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(membership::Column::HouseholdId.is_not_null());
    if let Some(users) = users {
        if users.is_empty() {
            return Ok(BTreeSet::new());
        }
        query = query.filter(membership::Column::UserId.is_in(users));
    }
    let ids: Vec<Option<Uuid>> = query.into_tuple().all(db).await?;
    Ok(ids.into_iter().flatten().collect())
}

// ---------- staff review ----------

/// Staff accept an ELIGIBLE proposal onto the topic pool.
pub async fn accept_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, id).await?;
    require(&standing, Permission::ManageConsultation)?;
    if found.status != ProposalStatus::Eligible {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "只有附议已达标的议题才能受理",
        ));
    }
    transition(
        db,
        &standing,
        &found,
        &[ProposalStatus::Eligible],
        Transition {
            to: ProposalStatus::Accepted,
            reason: None,
            merged_into: None,
        },
        "accept",
    )
    .await
}

const REJECTABLE: &[ProposalStatus] = &[
    ProposalStatus::Submitted,
    ProposalStatus::Eligible,
    ProposalStatus::Accepted,
];

/// Staff reject a proposal not yet put to a vote, with a reason the author reads.
pub async fn reject_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, id).await?;
    require(&standing, Permission::ManageConsultation)?;
    let reason = validate::text("reason", reason, 500)?;
    if !REJECTABLE.contains(&found.status) {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "该议题已进入表决或已结束，不能驳回",
        ));
    }
    transition(
        db,
        &standing,
        &found,
        REJECTABLE,
        Transition {
            to: ProposalStatus::Rejected,
            reason: Some(reason),
            merged_into: None,
        },
        "reject",
    )
    .await
}

/// Staff merge a proposal into another of the same community: the source
/// becomes MERGED, and its seconds (and its author's support) carry over to
/// the target, which may then reach its threshold.
pub async fn merge_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    into_id: Uuid,
) -> ServiceResult<proposal::Model> {
    let (source, standing) = load(db, actor, id).await?;
    require(&standing, Permission::ManageConsultation)?;
    if id == into_id {
        return Err(ServiceError::bad_input(
            Reason::SelfReference,
            "intoProposalId",
            "不能合并到议题自身",
        ));
    }
    let target = find_proposal(db, into_id).await?;
    if target.community_id != source.community_id {
        return Err(ServiceError::NotFound("议题"));
    }
    if !REJECTABLE.contains(&source.status) || !REJECTABLE.contains(&target.status) {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "只能合并尚未进入表决的议题",
        ));
    }
    let txn = begin_write(db).await?;
    let merged = proposal::Entity::update_many()
        .col_expr(
            proposal::Column::Status,
            Expr::value(ProposalStatus::Merged),
        )
        .col_expr(proposal::Column::MergedIntoId, Expr::value(Some(into_id)))
        .col_expr(
            proposal::Column::DecidedBy,
            Expr::value(Some(standing.user_id)),
        )
        .col_expr(proposal::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(proposal::Column::Id.eq(id))
        .filter(proposal::Column::Status.is_in(REJECTABLE.iter().copied()))
        .exec(&txn)
        .await?;
    if merged.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "该议题已被处理，请刷新后重试",
        ));
    }
    // Seconds carry over: the source's seconders and author, less those
    // already seconding the target and the target's author.
    let mut supporters: BTreeSet<Uuid> = proposal_second::Entity::find()
        .select_only()
        .column(proposal_second::Column::UserId)
        .filter(proposal_second::Column::ProposalId.eq(id))
        .into_tuple::<Uuid>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    supporters.insert(source.author_id);
    supporters.remove(&target.author_id);
    let now = Utc::now();
    if !supporters.is_empty() {
        proposal_second::Entity::insert_many(supporters.iter().map(|user_id| {
            proposal_second::ActiveModel {
                proposal_id: Set(into_id),
                user_id: Set(*user_id),
                community_id: Set(target.community_id),
                created_at: Set(now),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                proposal_second::Column::ProposalId,
                proposal_second::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    let seconds = proposal_second::Entity::find()
        .filter(proposal_second::Column::ProposalId.eq(into_id))
        .count(&txn)
        .await? as i32;
    let recounted = proposal::Entity::update_many()
        .col_expr(proposal::Column::SecondCount, Expr::value(seconds))
        .col_expr(proposal::Column::UpdatedAt, Expr::value(now))
        .filter(proposal::Column::Id.eq(into_id))
        .filter(proposal::Column::Status.is_in(REJECTABLE.iter().copied()))
        .exec(&txn)
        .await?;
    if recounted.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "目标议题已被处理，请刷新后重试",
        ));
    }
    let saved = find_proposal(&txn, id).await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal", id, "merge")
            .community(source.community_id)
            .actor(Some(standing.user_id))
            .change(Some(state_json(&source)), Some(state_json(&saved))),
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal", into_id, "merge_in")
            .community(source.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(state_json(&target)),
                Some(json!({"secondCount": seconds, "from": id})),
            ),
    )
    .await?;
    promote_if_seconded(&txn, into_id, Some(standing.user_id)).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Staff mark a PASSED proposal as carried out (DONE); residents may then rate it.
pub async fn mark_done(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, id).await?;
    require(&standing, Permission::ManageConsultation)?;
    if found.status != ProposalStatus::Passed {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "只有表决通过的议题才能标记为已办结",
        ));
    }
    transition(
        db,
        &standing,
        &found,
        &[ProposalStatus::Passed],
        Transition {
            to: ProposalStatus::Done,
            reason: None,
            merged_into: None,
        },
        "done",
    )
    .await
}

struct Transition {
    to: ProposalStatus,
    reason: Option<String>,
    merged_into: Option<Uuid>,
}

async fn transition(
    db: &DatabaseConnection,
    standing: &Standing,
    found: &proposal::Model,
    from: &[ProposalStatus],
    change: Transition,
    action: &'static str,
) -> ServiceResult<proposal::Model> {
    let txn = begin_write(db).await?;
    let now = Utc::now();
    let mut update = proposal::Entity::update_many()
        .col_expr(proposal::Column::Status, Expr::value(change.to))
        .col_expr(
            proposal::Column::DecidedBy,
            Expr::value(Some(standing.user_id)),
        )
        .col_expr(proposal::Column::UpdatedAt, Expr::value(now));
    if change.reason.is_some() {
        update = update.col_expr(proposal::Column::RejectReason, Expr::value(change.reason));
    }
    if change.merged_into.is_some() {
        update = update.col_expr(
            proposal::Column::MergedIntoId,
            Expr::value(change.merged_into),
        );
    }
    if change.to == ProposalStatus::Done {
        update = update.col_expr(proposal::Column::DoneAt, Expr::value(Some(now)));
    }
    let updated = update
        .filter(proposal::Column::Id.eq(found.id))
        .filter(proposal::Column::Status.is_in(from.iter().copied()))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "该议题已被处理，请刷新后重试",
        ));
    }
    let saved = find_proposal(&txn, found.id).await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal", found.id, action)
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(Some(state_json(found)), Some(state_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Moves a proposal between statuses inside another service's transaction
/// (a ballot opening or closing). Fails when it is no longer in `from`.
pub(crate) async fn move_status<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    from: ProposalStatus,
    to: ProposalStatus,
    actor_id: Option<Uuid>,
    action: &'static str,
) -> ServiceResult<proposal::Model> {
    let before = find_proposal(txn, id).await?;
    let updated = proposal::Entity::update_many()
        .col_expr(proposal::Column::Status, Expr::value(to))
        .col_expr(proposal::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(proposal::Column::Id.eq(id))
        .filter(proposal::Column::Status.eq(from))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            format!("议题当前状态不是{}", status_label(from)),
        ));
    }
    let after = find_proposal(txn, id).await?;
    audit::record(
        txn,
        AuditEntry::new("proposal", id, action)
            .community(before.community_id)
            .actor(actor_id)
            .change(Some(state_json(&before)), Some(state_json(&after))),
    )
    .await?;
    Ok(after)
}

fn status_label(status: ProposalStatus) -> &'static str {
    match status {
        ProposalStatus::Submitted => "已提交",
        ProposalStatus::Eligible => "附议达标",
        ProposalStatus::Accepted => "已受理",
        ProposalStatus::Merged => "已合并",
        ProposalStatus::Rejected => "已驳回",
        ProposalStatus::InVote => "表决中",
        ProposalStatus::Passed => "已通过",
        ProposalStatus::Failed => "未通过",
        ProposalStatus::Done => "已办结",
    }
}

// ---------- reading ----------

pub async fn proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<proposal::Model> {
    Ok(load(db, actor, id).await?.0)
}

pub async fn list_proposals(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    status: Option<ProposalStatus>,
    page: PageRequest,
) -> ServiceResult<Page<proposal::Model>> {
    policy::authorize(db, actor, community_id, Permission::ViewConsultation).await?;
    let mut condition = Condition::all().add(proposal::Column::CommunityId.eq(community_id));
    if let Some(status) = status {
        condition = condition.add(proposal::Column::Status.eq(status));
    }
    // Newest first: residents look for what is being discussed now.
    Ok(paginate(
        db,
        proposal::Entity::find().filter(condition),
        Order::NewestFirst,
        page,
    )
    .await?)
}

/// Whether the caller has seconded the proposal.
pub async fn has_seconded(
    db: &DatabaseConnection,
    actor: &Actor,
    proposal_id: Uuid,
) -> ServiceResult<bool> {
    let Actor::User(user_id) = actor else {
        return Ok(false);
    };
    Ok(proposal_second::Entity::find_by_id((proposal_id, *user_id))
        .one(db)
        .await?
        .is_some())
}

// ---------- comments ----------

/// A comment as one viewer may see it: a hidden comment's body and reason
/// are shown to staff only.
#[derive(Debug, Clone)]
pub struct CommentView {
    pub comment: proposal_comment::Model,
    pub moderator_view: bool,
}

impl CommentView {
    pub fn body(&self) -> Option<&str> {
        if self.comment.hidden && !self.moderator_view {
            None
        } else {
            Some(&self.comment.body)
        }
    }

    pub fn hidden_reason(&self) -> Option<&str> {
        if self.moderator_view {
            self.comment.hidden_reason.as_deref()
        } else {
            None
        }
    }
}

const COMMENTABLE: &[ProposalStatus] = &[
    ProposalStatus::Submitted,
    ProposalStatus::Eligible,
    ProposalStatus::Accepted,
    ProposalStatus::InVote,
];

pub async fn comment_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    proposal_id: Uuid,
    body: &str,
    parent_id: Option<Uuid>,
) -> ServiceResult<CommentView> {
    let (found, standing) = load(db, actor, proposal_id).await?;
    require(&standing, Permission::TakePartInConsultation)?;
    let body = validate::text("body", body, COMMENT_MAX)?;
    if !COMMENTABLE.contains(&found.status) {
        return Err(ServiceError::invalid_state(
            Reason::DiscussionClosed,
            "该议题已结束讨论",
        ));
    }
    if let Some(parent) = parent_id {
        let parent = proposal_comment::Entity::find_by_id(parent).one(db).await?;
        if parent.map(|c| c.proposal_id) != Some(proposal_id) {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "parentId",
                "回复的评论不存在",
            ));
        }
    }
    let txn = begin_write(db).await?;
    let created = proposal_comment::ActiveModel {
        id: Set(Uuid::now_v7()),
        proposal_id: Set(proposal_id),
        community_id: Set(found.community_id),
        author_id: Set(standing.user_id),
        parent_id: Set(parent_id),
        body: Set(body),
        hidden: Set(false),
        hidden_reason: Set(None),
        hidden_by: Set(None),
        report_count: Set(0),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal_comment", created.id, "create")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                None,
                Some(json!({"proposal": proposal_id, "parent": parent_id})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(CommentView {
        comment: created,
        moderator_view: standing.allows(Permission::ManageConsultation),
    })
}

async fn load_comment(
    db: &DatabaseConnection,
    actor: &Actor,
    comment_id: Uuid,
) -> ServiceResult<(proposal_comment::Model, Standing)> {
    actor.user_id()?;
    let found = proposal_comment::Entity::find_by_id(comment_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("评论"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound("评论"));
    }
    Ok((found, standing))
}

/// Staff hide a comment; it is kept, with the reason, for the audit.
pub async fn hide_comment(
    db: &DatabaseConnection,
    actor: &Actor,
    comment_id: Uuid,
    reason: &str,
) -> ServiceResult<CommentView> {
    let (found, standing) = load_comment(db, actor, comment_id).await?;
    require(&standing, Permission::ManageConsultation)?;
    let reason = validate::text("reason", reason, 500)?;
    let txn = begin_write(db).await?;
    let hidden = proposal_comment::Entity::update_many()
        .col_expr(proposal_comment::Column::Hidden, Expr::value(true))
        .col_expr(
            proposal_comment::Column::HiddenReason,
            Expr::value(Some(reason.clone())),
        )
        .col_expr(
            proposal_comment::Column::HiddenBy,
            Expr::value(Some(standing.user_id)),
        )
        .filter(proposal_comment::Column::Id.eq(comment_id))
        .filter(proposal_comment::Column::Hidden.eq(false))
        .exec(&txn)
        .await?;
    if hidden.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::CommentHidden,
            "该评论已被隐藏",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("proposal_comment", comment_id, "hide")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(json!({"hidden": false, "body": found.body})),
                Some(json!({"hidden": true, "reason": reason})),
            ),
    )
    .await?;
    let saved = proposal_comment::Entity::find_by_id(comment_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("评论"))?;
    txn.commit().await?;
    Ok(CommentView {
        comment: saved,
        moderator_view: true,
    })
}

/// A member reports a comment (once each); staff see the count.
pub async fn report_comment(
    db: &DatabaseConnection,
    actor: &Actor,
    comment_id: Uuid,
    reason: &str,
) -> ServiceResult<CommentView> {
    let (found, standing) = load_comment(db, actor, comment_id).await?;
    if !standing.is_member() {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let reason = validate::text("reason", reason, 500)?;
    let txn = begin_write(db).await?;
    comment_report::ActiveModel {
        comment_id: Set(comment_id),
        user_id: Set(standing.user_id),
        community_id: Set(found.community_id),
        reason: Set(reason.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    proposal_comment::Entity::update_many()
        .col_expr(
            proposal_comment::Column::ReportCount,
            Expr::col(proposal_comment::Column::ReportCount).add(1),
        )
        .filter(proposal_comment::Column::Id.eq(comment_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal_comment", comment_id, "report")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(None, Some(json!({"reason": reason}))),
    )
    .await?;
    let saved = proposal_comment::Entity::find_by_id(comment_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("评论"))?;
    txn.commit().await?;
    Ok(CommentView {
        comment: saved,
        moderator_view: standing.allows(Permission::ManageConsultation),
    })
}

/// A proposal's comments, oldest first (threads follow `parentId`).
pub async fn list_comments(
    db: &DatabaseConnection,
    actor: &Actor,
    proposal_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<CommentView>> {
    let (_, standing) = load(db, actor, proposal_id).await?;
    let moderator_view = standing.allows(Permission::ManageConsultation);
    let condition = Condition::all().add(proposal_comment::Column::ProposalId.eq(proposal_id));
    let rows = paginate(
        db,
        proposal_comment::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?;
    Ok(rows.map(|comment| CommentView {
        comment,
        moderator_view,
    }))
}

// ---------- evaluation ----------

/// A resident rates a DONE proposal 1–5 with an optional comment; one
/// rating each, which they may change.
pub async fn rate_proposal(
    db: &DatabaseConnection,
    actor: &Actor,
    proposal_id: Uuid,
    score: i32,
    comment: Option<&str>,
) -> ServiceResult<proposal::Model> {
    let (found, standing) = load(db, actor, proposal_id).await?;
    require(&standing, Permission::TakePartInConsultation)?;
    if !(1..=5).contains(&score) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "score",
            "评分须为1到5分",
        ));
    }
    let comment = match comment {
        Some(text) if !text.trim().is_empty() => Some(validate::text("comment", text, 500)?),
        _ => None,
    };
    if found.status != ProposalStatus::Done {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "议题办结后才能评价",
        ));
    }
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let before = proposal_rating::Entity::find_by_id((proposal_id, standing.user_id))
        .one(&txn)
        .await?;
    proposal_rating::Entity::insert(proposal_rating::ActiveModel {
        proposal_id: Set(proposal_id),
        user_id: Set(standing.user_id),
        community_id: Set(found.community_id),
        score: Set(score),
        comment: Set(comment.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            proposal_rating::Column::ProposalId,
            proposal_rating::Column::UserId,
        ])
        .update_columns([
            proposal_rating::Column::Score,
            proposal_rating::Column::Comment,
            proposal_rating::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("proposal", proposal_id, "rate")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                before.map(|r| json!({"score": r.score, "comment": r.comment})),
                Some(json!({"score": score, "comment": comment})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(found)
}

/// Ratings of one proposal: how many, the average, and the satisfaction
/// share (ratings of 4 or 5 over all ratings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingSummary {
    pub count: i64,
    pub average: Option<f64>,
    pub satisfaction_share: Option<f64>,
}

pub async fn rating_summary(
    db: &DatabaseConnection,
    proposal_id: Uuid,
) -> ServiceResult<RatingSummary> {
    let scores: Vec<i32> = proposal_rating::Entity::find()
        .select_only()
        .column(proposal_rating::Column::Score)
        .filter(proposal_rating::Column::ProposalId.eq(proposal_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(summarize(&scores))
}

pub fn summarize(scores: &[i32]) -> RatingSummary {
    let count = scores.len() as i64;
    if count == 0 {
        return RatingSummary {
            count,
            average: None,
            satisfaction_share: None,
        };
    }
    let sum: i64 = scores.iter().map(|s| i64::from(*s)).sum();
    let satisfied = scores.iter().filter(|s| **s >= 4).count() as f64;
    RatingSummary {
        count,
        average: Some(sum as f64 / count as f64),
        satisfaction_share: Some(satisfied / count as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_summary_formula() {
        assert_eq!(summarize(&[]).average, None);
        let s = summarize(&[5, 4, 3, 1]);
        assert_eq!(s.count, 4);
        assert_eq!(s.average, Some(3.25));
        assert_eq!(s.satisfaction_share, Some(0.5));
    }
}
