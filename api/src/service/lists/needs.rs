//! The needs list (需求清单): submitted by residents, or by grid workers and
//! staff for a resident (`onBehalfOf`), checked by staff, matched, carried
//! out by a project and closed:
//!
//! ```text
//! SUBMITTED ─accept─▶ ACCEPTED ─match/project─▶ MATCHED ─start─▶ IN_PROGRESS ─complete─▶ FULFILLED ─close─▶ CLOSED
//!     └─reject (reason)─▶ REJECTED
//! ```
//!
//! A need's description and who it is for are seen only by the requester,
//! whoever entered it, and the community's staff and grid workers.

use chrono::Utc;
use entity::lists::need::{self, BeneficiaryGroup, NeedStatus, Urgency};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::resources::is_active_member;
use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Standing};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// The moves the state machine allows (the projects drive MATCHED →
/// IN_PROGRESS → FULFILLED; staff drive the rest).
pub fn allowed(from: NeedStatus, to: NeedStatus) -> bool {
    use NeedStatus::*;
    matches!(
        (from, to),
        (Submitted, Accepted)
            | (Submitted, Rejected)
            | (Accepted, Matched)
            | (Matched, InProgress)
            | (InProgress, Fulfilled)
            | (Fulfilled, Closed)
    )
}

/// A need as one viewer may see it.
#[derive(Debug, Clone)]
pub struct NeedView {
    pub need: need::Model,
    /// Whether the viewer may see the description and who the need is for.
    pub reveal: bool,
}

impl NeedView {
    pub fn for_standing(need: need::Model, standing: &Standing) -> Self {
        let reveal = standing.allows(Permission::SeeNeedDetails)
            || need.requester_id == standing.user_id
            || need.submitted_by == standing.user_id;
        NeedView { need, reveal }
    }
}

pub struct NewNeed<'a> {
    pub community_id: Uuid,
    pub title: &'a str,
    pub category: &'a str,
    pub urgency: Urgency,
    pub description: &'a str,
    pub beneficiary_group: BeneficiaryGroup,
    /// The resident the need is for, when the caller enters it for them.
    pub on_behalf_of: Option<Uuid>,
}

pub async fn submit_need(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewNeed<'_>,
) -> ServiceResult<NeedView> {
    let standing = policy::standing(db, actor, input.community_id).await?;
    let title = validate::text("title", input.title, 100)?;
    let category = validate::text("category", input.category, 32)?;
    let description = validate::text("description", input.description, 2000)?;
    let requester = match input.on_behalf_of {
        Some(resident) if resident != standing.user_id => {
            if !standing.allows(Permission::SubmitNeedForOthers) {
                return Err(ServiceError::Forbidden(Reason::NotPermitted));
            }
            if !is_active_member(db, resident, standing.community.id).await? {
                return Err(ServiceError::bad_input(
                    Reason::ReferenceInvalid,
                    "onBehalfOf",
                    "代为登记的居民不是本社区在册成员",
                ));
            }
            resident
        }
        _ => {
            if !standing.allows(Permission::OfferAndRequest) {
                return Err(ServiceError::Forbidden(Reason::NotPermitted));
            }
            standing.user_id
        }
    };
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = begin_write(db).await?;
    let created = need::ActiveModel {
        id: Set(id),
        community_id: Set(standing.community.id),
        requester_id: Set(requester),
        submitted_by: Set(standing.user_id),
        beneficiary_group: Set(input.beneficiary_group),
        category: Set(category),
        urgency: Set(input.urgency),
        urgency_rank: Set(input.urgency.rank()),
        title: Set(title),
        description: Set(description),
        status: Set(NeedStatus::Submitted),
        status_reason: Set(None),
        project_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut entry = AuditEntry::new("need", id, "submit")
        .community(created.community_id)
        .actor(Some(standing.user_id))
        .change(None, Some(state_json(&created)));
    if requester != standing.user_id {
        entry.on_behalf_of = Some(requester);
    }
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(NeedView::for_standing(created, &standing))
}

/// Staff check a SUBMITTED need: accept it, or reject it with a reason.
pub async fn review_need(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
    accept: bool,
    reason: Option<&str>,
) -> ServiceResult<NeedView> {
    let (found, standing) = load(db, actor, need_id, Permission::ManageNeeds).await?;
    let (to, reason) = if accept {
        (NeedStatus::Accepted, None)
    } else {
        let reason = validate::text("reason", reason.unwrap_or_default(), 500)?;
        (NeedStatus::Rejected, Some(reason))
    };
    if found.status != NeedStatus::Submitted {
        return Err(ServiceError::invalid_state(
            Reason::NeedStatusWrong,
            "只能审核待审核的需求",
        ));
    }
    let txn = begin_write(db).await?;
    let saved = move_need(
        &txn,
        &found,
        to,
        reason,
        standing.user_id,
        if accept { "accept" } else { "reject" },
    )
    .await?;
    txn.commit().await?;
    Ok(NeedView::for_standing(saved, &standing))
}

/// Staff close a FULFILLED need.
pub async fn close_need(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
) -> ServiceResult<NeedView> {
    let (found, standing) = load(db, actor, need_id, Permission::ManageNeeds).await?;
    if found.status != NeedStatus::Fulfilled {
        return Err(ServiceError::invalid_state(
            Reason::NeedStatusWrong,
            "只能关闭已解决的需求",
        ));
    }
    let txn = begin_write(db).await?;
    let saved = move_need(
        &txn,
        &found,
        NeedStatus::Closed,
        None,
        standing.user_id,
        "close",
    )
    .await?;
    txn.commit().await?;
    Ok(NeedView::for_standing(saved, &standing))
}

/// Moves one need from its current status to `to` inside `txn`, only if it
/// is still in that status (two staff deciding at once cannot both win),
/// and records the change.
pub(crate) async fn move_need<C: ConnectionTrait>(
    txn: &C,
    found: &need::Model,
    to: NeedStatus,
    reason: Option<String>,
    actor_id: Uuid,
    action: &'static str,
) -> ServiceResult<need::Model> {
    if !allowed(found.status, to) {
        return Err(ServiceError::invalid_state(
            Reason::NeedStatusWrong,
            "需求当前状态不允许此操作",
        ));
    }
    let mut update = need::Entity::update_many()
        .col_expr(need::Column::Status, Expr::value(to.to_value()))
        .col_expr(need::Column::UpdatedAt, Expr::value(Utc::now()));
    if reason.is_some() {
        update = update.col_expr(need::Column::StatusReason, Expr::value(reason));
    }
    let updated = update
        .filter(need::Column::Id.eq(found.id))
        .filter(need::Column::Status.eq(found.status))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "需求状态已变化，请刷新后重试",
        ));
    }
    let saved = need::Entity::find_by_id(found.id)
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("需求"))?;
    audit::record(
        txn,
        AuditEntry::new("need", saved.id, action)
            .community(saved.community_id)
            .actor(Some(actor_id))
            .change(Some(state_json(found)), Some(state_json(&saved))),
    )
    .await?;
    Ok(saved)
}

pub fn state_json(n: &need::Model) -> serde_json::Value {
    json!({"status": n.status.to_value(), "reason": n.status_reason, "project": n.project_id})
}

/// Loads a need and the caller's standing in its community, requiring
/// `permission`; a caller who may not even see the lists learns nothing.
pub(crate) async fn load(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
    permission: Permission,
) -> ServiceResult<(need::Model, Standing)> {
    actor.user_id()?;
    let found = need::Entity::find_by_id(need_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("需求"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewLists) {
        return Err(ServiceError::NotFound("需求"));
    }
    if !standing.allows(permission) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    Ok((found, standing))
}

pub async fn find_need(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
) -> ServiceResult<NeedView> {
    let (found, standing) = load(db, actor, need_id, Permission::ViewLists).await?;
    Ok(NeedView::for_standing(found, &standing))
}

/// The community's needs, oldest first (keyset by id), details hidden from
/// those who may not see them.
pub async fn list_needs(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    status: Option<NeedStatus>,
    page: PageRequest,
) -> ServiceResult<Page<NeedView>> {
    let standing = policy::standing(db, actor, community_id).await?;
    if !standing.allows(Permission::ViewLists) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let mut condition = Condition::all().add(need::Column::CommunityId.eq(community_id));
    if let Some(status) = status {
        condition = condition.add(need::Column::Status.eq(status));
    }
    let rows = paginate(
        db,
        need::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?;
    Ok(rows.map(|n| NeedView::for_standing(n, &standing)))
}

/// The staff queue: needs waiting for staff (SUBMITTED and ACCEPTED unless
/// `statuses` says otherwise), most urgent first, then oldest first. The
/// cursor is the last need's id; its urgency is read back to continue.
pub async fn need_queue(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    statuses: Option<Vec<NeedStatus>>,
    page: PageRequest,
) -> ServiceResult<Page<NeedView>> {
    let standing = policy::standing(db, actor, community_id).await?;
    if !standing.allows(Permission::SeeNeedDetails) && !standing.allows(Permission::ManageNeeds) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let statuses = statuses
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec![NeedStatus::Submitted, NeedStatus::Accepted]);
    let condition = Condition::all()
        .add(need::Column::CommunityId.eq(community_id))
        .add(need::Column::Status.is_in(statuses));
    let mut cursor_key = None;
    if let Some(after) = page.after {
        let rank: Option<i16> = need::Entity::find_by_id(after)
            .select_only()
            .column(need::Column::UrgencyRank)
            .filter(need::Column::CommunityId.eq(community_id))
            .into_tuple()
            .one(db)
            .await?;
        let rank = rank.ok_or_else(|| {
            ServiceError::bad_input(Reason::CursorInvalid, "after", "分页游标无效")
        })?;
        cursor_key = Some(rank.into());
    }
    let order = Order::KeyDescThenOldest {
        key: need::Column::UrgencyRank,
        cursor_key,
    };
    let rows = paginate(db, need::Entity::find().filter(condition), order, page).await?;
    Ok(rows.map(|n| NeedView::for_standing(n, &standing)))
}

/// Every need status.
pub const ALL_STATUSES: [NeedStatus; 7] = [
    NeedStatus::Submitted,
    NeedStatus::Accepted,
    NeedStatus::Rejected,
    NeedStatus::Matched,
    NeedStatus::InProgress,
    NeedStatus::Fulfilled,
    NeedStatus::Closed,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_moves_forward_only() {
        let moves: Vec<_> = ALL_STATUSES
            .iter()
            .flat_map(|a| ALL_STATUSES.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| allowed(*a, *b))
            .collect();
        assert_eq!(moves.len(), 6);
        assert!(!allowed(NeedStatus::Rejected, NeedStatus::Accepted));
        assert!(!allowed(NeedStatus::Closed, NeedStatus::Submitted));
        assert!(!allowed(NeedStatus::Submitted, NeedStatus::Matched));
    }
}
