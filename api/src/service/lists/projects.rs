//! The projects list (项目清单) and the street's project library (项目库):
//!
//! ```text
//! DRAFT ─submit─▶ SUBMITTED ─review ≥ pass mark─▶ IN_LIBRARY ─select (点选)─▶ SELECTED ─start─▶ IN_PROGRESS ─complete─▶ COMPLETED ─close─▶ EVALUATED
//!                     └─review < pass mark─▶ REJECTED        └─remove (出库, reason)─▶ REMOVED_FROM_LIBRARY
//! ```
//!
//! Creating a project claims its needs (ACCEPTED → MATCHED) and reserves its
//! pledges. A reservation is one conditional UPDATE of the resource that
//! only succeeds while enough units are left, and the database refuses
//! `reserved + used > quantity`: two projects pledging the last units at
//! once cannot both win. Rejection and removal release the reservations and
//! free the needs; starting moves the needs to IN_PROGRESS; completing
//! consumes what was used, releases the rest and fulfils the needs.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::lists::need::{self, NeedStatus};
use entity::lists::organisation;
use entity::lists::pledge::{self, PledgeStatus};
use entity::lists::project::{self, ProjectStatus};
use entity::lists::project_need;
use entity::lists::project_rating;
use entity::lists::resource;
use entity::org::membership::{self, MembershipStatus};
use entity::org::region::{self, RegionKind};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::needs::{self as need_service, NeedView};
use super::{optional_text, statement};
use crate::audit::{self, AuditEntry};
use crate::db::{WriteTransaction, begin_write};
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Role, Standing};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// The largest budget accepted: ¥20,000,000.00 in fen (fits a GraphQL Int).
pub const MAX_BUDGET_FEN: i64 = 2_000_000_000;
pub const MAX_PLEDGES: usize = 50;
pub const MAX_NEEDS: usize = 50;

/// The moves the lifecycle allows.
pub fn allowed(from: ProjectStatus, to: ProjectStatus) -> bool {
    use ProjectStatus::*;
    matches!(
        (from, to),
        (Draft, Submitted)
            | (Submitted, InLibrary)
            | (Submitted, Rejected)
            | (InLibrary, Selected)
            | (InLibrary, RemovedFromLibrary)
            | (Selected, InProgress)
            | (InProgress, Completed)
            | (Completed, Evaluated)
    )
}

pub const ALL_STATUSES: [ProjectStatus; 9] = [
    ProjectStatus::Draft,
    ProjectStatus::Submitted,
    ProjectStatus::InLibrary,
    ProjectStatus::Rejected,
    ProjectStatus::Selected,
    ProjectStatus::InProgress,
    ProjectStatus::Completed,
    ProjectStatus::Evaluated,
    ProjectStatus::RemovedFromLibrary,
];

pub struct NewProject<'a> {
    pub community_id: Uuid,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub need_ids: &'a [Uuid],
    /// (resource, quantity)
    pub pledges: &'a [(Uuid, i32)],
    pub budget_fen: i64,
    pub lead_organisation_id: Option<Uuid>,
}

/// Validate → plan → apply: the checks and reads, the rows to write, and the
/// one write transaction.
pub async fn create_project(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewProject<'_>,
) -> ServiceResult<project::Model> {
    let valid = validate_project(db, actor, &input).await?;
    let plan = plan_project(valid, &input, Uuid::now_v7(), Utc::now());
    apply_project(db, plan).await
}

/// A project request that passed every check made before the transaction.
struct ValidProject {
    grant: policy::Grant,
    title: String,
    description: Option<String>,
    street_id: Uuid,
}

/// The caller's permission, the text and number limits, no duplicates, and
/// the lead organisation belonging to the community's street.
async fn validate_project(
    db: &DatabaseConnection,
    actor: &Actor,
    input: &NewProject<'_>,
) -> ServiceResult<ValidProject> {
    let grant =
        policy::authorize(db, actor, input.community_id, Permission::ManageProjects).await?;
    let title = validate::text("title", input.title, 100)?;
    let description = optional_text("description", input.description, 4000)?;
    check_project_lists(input)?;
    let community = &grant.community;
    let street_id = community.street_id.unwrap_or(community.district_id);
    if let Some(org_id) = input.lead_organisation_id {
        let org = organisation::Entity::find_by_id(org_id)
            .one(db)
            .await?
            .ok_or(ServiceError::NotFound("组织"))?;
        if org.street_id != street_id {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "leadOrganisationId",
                "牵头组织未在本街道登记",
            ));
        }
    }
    Ok(ValidProject {
        grant,
        title,
        description,
        street_id,
    })
}

/// The budget range and the needs and pledges lists: their lengths, positive
/// quantities, no repeats.
fn check_project_lists(input: &NewProject<'_>) -> ServiceResult<()> {
    if !(0..=MAX_BUDGET_FEN).contains(&input.budget_fen) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "budgetFen",
            "预算（分）必须在0到20亿之间",
        ));
    }
    if input.need_ids.len() > MAX_NEEDS {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "needIds",
            format!("一个项目最多承接{MAX_NEEDS}项需求"),
        ));
    }
    if input.need_ids.iter().collect::<HashSet<_>>().len() != input.need_ids.len() {
        return Err(ServiceError::bad_input(
            Reason::DuplicateInInput,
            "needIds",
            "需求不能重复",
        ));
    }
    if input.pledges.len() > MAX_PLEDGES {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "pledges",
            format!("一个项目最多认领{MAX_PLEDGES}项资源"),
        ));
    }
    if input.pledges.iter().any(|(_, q)| *q <= 0) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "pledges",
            "认领数量必须大于0",
        ));
    }
    if input
        .pledges
        .iter()
        .map(|(r, _)| r)
        .collect::<HashSet<_>>()
        .len()
        != input.pledges.len()
    {
        return Err(ServiceError::bad_input(
            Reason::DuplicateInInput,
            "pledges",
            "同一资源只能认领一次",
        ));
    }
    Ok(())
}

/// What creating a project writes: its row, the needs to claim and the
/// resources to reserve (each sorted by id: rows are locked in one order so
/// that two projects on the same needs or resources cannot deadlock on
/// PostgreSQL), and the audit entry's content.
struct ProjectPlan {
    row: project::Model,
    street_id: Uuid,
    need_ids: Vec<Uuid>,
    pledges: Vec<(Uuid, i32)>,
    audit: serde_json::Value,
}

/// Pure: the rows to write for a validated request.
fn plan_project(
    valid: ValidProject,
    input: &NewProject<'_>,
    id: Uuid,
    now: chrono::DateTime<Utc>,
) -> ProjectPlan {
    let row = project::Model {
        id,
        community_id: valid.grant.community.id,
        street_id: valid.street_id,
        selected_community_id: None,
        lead_organisation_id: input.lead_organisation_id,
        title: valid.title,
        description: valid.description,
        budget_fen: input.budget_fen,
        spent_fen: None,
        status: ProjectStatus::Draft,
        review_score: None,
        review_comment: None,
        reviewed_by: None,
        reviewed_at: None,
        removal_reason: None,
        created_by: valid.grant.user_id,
        created_at: now,
        updated_at: now,
        selected_at: None,
        started_at: None,
        completed_at: None,
        evaluated_at: None,
    };
    let mut need_ids = input.need_ids.to_vec();
    need_ids.sort();
    let mut pledges = input.pledges.to_vec();
    pledges.sort();
    let audit = json!({
        "status": "DRAFT",
        "budgetFen": input.budget_fen,
        "needs": input.need_ids,
        "pledges": input.pledges.iter().map(|(r, q)| json!({"resource": r, "quantity": q})).collect::<Vec<_>>(),
    });
    ProjectPlan {
        row,
        street_id: valid.street_id,
        need_ids,
        pledges,
        audit,
    }
}

/// Writes the plan in one transaction: the project, each need claimed, each
/// resource reserved and pledged, the audit entry.
async fn apply_project(
    db: &DatabaseConnection,
    plan: ProjectPlan,
) -> ServiceResult<project::Model> {
    let txn = begin_write(db).await?;
    // Every column set, as a new row's are.
    let created = project::ActiveModel::from(plan.row)
        .reset_all()
        .insert(&txn)
        .await?;
    for need_id in &plan.need_ids {
        claim_need(&txn, &created, *need_id).await?;
    }
    for (resource_id, quantity) in &plan.pledges {
        reserve(
            &txn,
            plan.street_id,
            *resource_id,
            *quantity,
            created.created_by,
        )
        .await?;
        pledge::ActiveModel {
            id: Set(Uuid::now_v7()),
            community_id: Set(created.community_id),
            project_id: Set(created.id),
            resource_id: Set(*resource_id),
            quantity: Set(*quantity),
            used_quantity: Set(None),
            status: Set(PledgeStatus::Reserved),
            created_at: Set(created.created_at),
            settled_at: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        AuditEntry::new("project", created.id, "create")
            .community(created.community_id)
            .actor(Some(created.created_by))
            .change(None, Some(plan.audit)),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Claims one need for the new project: it must be this community's,
/// ACCEPTED or MATCHED, and not taken by another project.
async fn claim_need(
    txn: &WriteTransaction,
    created: &project::Model,
    need_id: Uuid,
) -> ServiceResult<()> {
    let now = created.created_at;
    let found = need::Entity::find_by_id(need_id)
        .filter(need::Column::CommunityId.eq(created.community_id))
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("需求"))?;
    let claimable = matches!(found.status, NeedStatus::Accepted | NeedStatus::Matched)
        && found.project_id.is_none();
    if !claimable {
        return Err(ServiceError::invalid_state(
            Reason::NeedStatusWrong,
            format!("需求“{}”尚未受理或已由其他项目承接", found.title),
        ));
    }
    let claimed = need::Entity::update_many()
        .col_expr(need::Column::ProjectId, Expr::value(Some(created.id)))
        .col_expr(
            need::Column::Status,
            Expr::value(NeedStatus::Matched.to_value()),
        )
        .col_expr(need::Column::UpdatedAt, Expr::value(now))
        .filter(need::Column::Id.eq(found.id))
        .filter(need::Column::Status.eq(found.status))
        .filter(need::Column::ProjectId.is_null())
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "需求状态已变化，请刷新后重试",
        ));
    }
    let after = need::Model {
        status: NeedStatus::Matched,
        project_id: Some(created.id),
        ..found.clone()
    };
    audit::record(
        txn,
        AuditEntry::new("need", found.id, "claim_by_project")
            .community(created.community_id)
            .actor(Some(created.created_by))
            .change(
                Some(need_service::state_json(&found)),
                Some(need_service::state_json(&after)),
            ),
    )
    .await?;
    project_need::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(created.community_id),
        project_id: Set(created.id),
        need_id: Set(found.id),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Reserves `quantity` units of a resource of the street: one conditional
/// UPDATE that succeeds only while the resource is AVAILABLE with enough
/// units left; it becomes RESERVED when nothing is left.
async fn reserve(
    txn: &WriteTransaction,
    street_id: Uuid,
    resource_id: Uuid,
    quantity: i32,
    actor_id: Uuid,
) -> ServiceResult<()> {
    let before = resource::Entity::find_by_id(resource_id)
        .filter(resource::Column::StreetId.eq(street_id))
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    let backend = txn.get_database_backend();
    let result = txn
        .execute_raw(statement(
            backend,
            "UPDATE resource SET reserved = reserved + ?, \
             status = CASE WHEN reserved + ? + used >= quantity THEN 'RESERVED' ELSE 'AVAILABLE' END, \
             updated_at = ? \
             WHERE id = ? AND status = 'AVAILABLE' AND quantity - reserved - used >= ?",
            [
                quantity.into(),
                quantity.into(),
                Utc::now().into(),
                resource_id.into(),
                quantity.into(),
            ],
        ))
        .await?;
    if result.rows_affected() != 1 {
        return Err(ServiceError::conflict(
            Reason::ResourceInsufficient,
            format!("资源“{}”余量不足或已不可用", before.title),
        ));
    }
    record_resource_change(txn, &before, actor_id, "reserve").await
}

/// Settles a RESERVED pledge: `used` units are consumed, the rest released.
async fn settle(
    txn: &WriteTransaction,
    pledge: &pledge::Model,
    used: i32,
    actor_id: Uuid,
) -> ServiceResult<()> {
    let before = resource::Entity::find_by_id(pledge.resource_id)
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let result = txn
        .execute_raw(statement(
            backend,
            "UPDATE resource SET reserved = reserved - ?, used = used + ?, \
             status = CASE WHEN status = 'WITHDRAWN' THEN 'WITHDRAWN' \
                           WHEN used + ? >= quantity THEN 'EXHAUSTED' \
                           WHEN reserved - ? + used + ? >= quantity THEN 'RESERVED' \
                           ELSE 'AVAILABLE' END, \
             updated_at = ? \
             WHERE id = ? AND reserved >= ?",
            [
                pledge.quantity.into(),
                used.into(),
                used.into(),
                pledge.quantity.into(),
                used.into(),
                now.into(),
                pledge.resource_id.into(),
                pledge.quantity.into(),
            ],
        ))
        .await?;
    if result.rows_affected() != 1 {
        return Err(ServiceError::internal(anyhow::anyhow!(
            "pledge {} reserves more than resource {} holds",
            pledge.id,
            pledge.resource_id
        )));
    }
    let status = if used > 0 {
        PledgeStatus::Consumed
    } else {
        PledgeStatus::Released
    };
    let updated = pledge::Entity::update_many()
        .col_expr(pledge::Column::Status, Expr::value(status.to_value()))
        .col_expr(pledge::Column::UsedQuantity, Expr::value(Some(used)))
        .col_expr(pledge::Column::SettledAt, Expr::value(Some(now)))
        .filter(pledge::Column::Id.eq(pledge.id))
        .filter(pledge::Column::Status.eq(PledgeStatus::Reserved))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "资源认领已结算，请刷新后重试",
        ));
    }
    record_resource_change(
        txn,
        &before,
        actor_id,
        if used > 0 { "consume" } else { "release" },
    )
    .await
}

async fn record_resource_change(
    txn: &WriteTransaction,
    before: &resource::Model,
    actor_id: Uuid,
    action: &'static str,
) -> ServiceResult<()> {
    let after = resource::Entity::find_by_id(before.id)
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    audit::record(
        txn,
        AuditEntry::new("resource", before.id, action)
            .community(before.community_id)
            .actor(Some(actor_id))
            .change(
                Some(super::resources::state_json(before)),
                Some(super::resources::state_json(&after)),
            ),
    )
    .await?;
    Ok(())
}

/// Releases every reservation of a project that will not run, and frees its
/// needs for another project (they stay MATCHED).
async fn release_all(
    txn: &WriteTransaction,
    project_id: Uuid,
    actor_id: Uuid,
) -> ServiceResult<()> {
    for pledge in reserved_pledges(txn, project_id).await? {
        settle(txn, &pledge, 0, actor_id).await?;
    }
    need::Entity::update_many()
        .col_expr(need::Column::ProjectId, Expr::value(Option::<Uuid>::None))
        .col_expr(need::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(need::Column::ProjectId.eq(project_id))
        .exec(txn)
        .await?;
    Ok(())
}

async fn reserved_pledges<C: ConnectionTrait>(
    db: &C,
    project_id: Uuid,
) -> ServiceResult<Vec<pledge::Model>> {
    Ok(pledge::Entity::find()
        .filter(pledge::Column::ProjectId.eq(project_id))
        .filter(pledge::Column::Status.eq(PledgeStatus::Reserved))
        // The same lock order as when reserving.
        .order_by_asc(pledge::Column::ResourceId)
        .all(db)
        .await?)
}

/// Moves a project from its current status to `to` inside `txn`, only if
/// it is still there, with the extra column changes, and records it.
async fn move_project(
    txn: &WriteTransaction,
    found: &project::Model,
    to: ProjectStatus,
    extra: Vec<(project::Column, sea_orm::sea_query::SimpleExpr)>,
    actor_id: Uuid,
    action: &'static str,
) -> ServiceResult<project::Model> {
    if !allowed(found.status, to) {
        return Err(invalid_move(found.status));
    }
    let mut update = project::Entity::update_many()
        .col_expr(project::Column::Status, Expr::value(to.to_value()))
        .col_expr(project::Column::UpdatedAt, Expr::value(Utc::now()));
    for (col, value) in extra {
        update = update.col_expr(col, value);
    }
    let updated = update
        .filter(project::Column::Id.eq(found.id))
        .filter(project::Column::Status.eq(found.status))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "项目状态已变化，请刷新后重试",
        ));
    }
    let saved = project::Entity::find_by_id(found.id)
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("项目"))?;
    audit::record(
        txn,
        AuditEntry::new("project", saved.id, action)
            .community(saved.delivering_community())
            .actor(Some(actor_id))
            .change(Some(state_json(found)), Some(state_json(&saved))),
    )
    .await?;
    Ok(saved)
}

fn invalid_move(from: ProjectStatus) -> ServiceError {
    let now = match from {
        ProjectStatus::Draft => "草稿",
        ProjectStatus::Submitted => "待评审",
        ProjectStatus::InLibrary => "已入库",
        ProjectStatus::Rejected => "未通过评审",
        ProjectStatus::Selected => "已被点选",
        ProjectStatus::InProgress => "实施中",
        ProjectStatus::Completed => "已完成",
        ProjectStatus::Evaluated => "已评价",
        ProjectStatus::RemovedFromLibrary => "已出库",
    };
    ServiceError::invalid_state(
        Reason::ProjectStatusWrong,
        format!("项目当前状态为“{now}”，不允许此操作"),
    )
}

fn state_json(p: &project::Model) -> serde_json::Value {
    json!({
        "status": p.status.to_value(),
        "reviewScore": p.review_score,
        "selectedCommunity": p.selected_community_id,
        "spentFen": p.spent_fen,
        "removalReason": p.removal_reason,
    })
}

/// Loads a project for a change by the staff of `community_of(project)`.
async fn load_for(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    community_of: impl Fn(&project::Model) -> Uuid,
    permission: Permission,
) -> ServiceResult<(project::Model, Standing)> {
    actor.user_id()?;
    let found = project::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("项目"))?;
    let standing = policy::standing(db, actor, community_of(&found)).await?;
    if !standing.allows(permission) {
        let visible = standing.allows(Permission::ViewLists) || can_view(db, actor, &found).await?;
        return Err(if visible {
            ServiceError::Forbidden(Reason::NotPermitted)
        } else {
            ServiceError::NotFound("项目")
        });
    }
    Ok((found, standing))
}

/// Staff submit a DRAFT for the street's review (SUBMITTED).
pub async fn submit_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<project::Model> {
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        |p| p.community_id,
        Permission::ManageProjects,
    )
    .await?;
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::Submitted,
        vec![],
        standing.user_id,
        "submit",
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The street panel scores a SUBMITTED project (0–100): at or above the
/// pass mark it enters the library (IN_LIBRARY), below it is REJECTED and
/// its reservations are released.
pub async fn review_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    score: i32,
    comment: Option<&str>,
    pass_mark: i32,
) -> ServiceResult<project::Model> {
    if !(0..=100).contains(&score) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "score",
            "评分必须在0到100之间",
        ));
    }
    let comment = optional_text("comment", comment, 1000)?;
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        |p| p.community_id,
        Permission::ReviewProject,
    )
    .await?;
    let to = if score >= pass_mark {
        ProjectStatus::InLibrary
    } else {
        ProjectStatus::Rejected
    };
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        to,
        vec![
            (project::Column::ReviewScore, Expr::value(Some(score))),
            (project::Column::ReviewComment, Expr::value(comment)),
            (
                project::Column::ReviewedBy,
                Expr::value(Some(standing.user_id)),
            ),
            (project::Column::ReviewedAt, Expr::value(Some(Utc::now()))),
        ],
        standing.user_id,
        if to == ProjectStatus::InLibrary {
            "review_pass"
        } else {
            "review_reject"
        },
    )
    .await?;
    if to == ProjectStatus::Rejected {
        release_all(&txn, saved.id, standing.user_id).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// The street panel removes a project from the library (出库) with a reason;
/// its reservations are released.
pub async fn remove_from_library(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    reason: &str,
) -> ServiceResult<project::Model> {
    let reason = validate::text("reason", reason, 500)?;
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        |p| p.community_id,
        Permission::ReviewProject,
    )
    .await?;
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::RemovedFromLibrary,
        vec![(project::Column::RemovalReason, Expr::value(Some(reason)))],
        standing.user_id,
        "remove_from_library",
    )
    .await?;
    release_all(&txn, saved.id, standing.user_id).await?;
    txn.commit().await?;
    Ok(saved)
}

/// A community of the project's street picks it from the library (点选):
/// IN_LIBRARY → SELECTED, delivered by that community. `community_id` may be
/// left out when the caller is staff of exactly one community of the street.
pub async fn select_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    community_id: Option<Uuid>,
) -> ServiceResult<project::Model> {
    let user_id = actor.user_id()?;
    let found = project::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("项目"))?;
    let community_id = match community_id {
        Some(id) => id,
        None => sole_staff_community(db, user_id, found.street_id).await?,
    };
    let standing = policy::standing(db, actor, community_id).await?;
    if standing.community.street_id != Some(found.street_id) {
        return Err(ServiceError::NotFound("项目"));
    }
    if !standing.allows(Permission::ManageProjects) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::Selected,
        vec![
            (
                project::Column::SelectedCommunityId,
                Expr::value(Some(community_id)),
            ),
            (project::Column::SelectedAt, Expr::value(Some(Utc::now()))),
        ],
        user_id,
        "select",
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

async fn sole_staff_community(
    db: &DatabaseConnection,
    user_id: Uuid,
    street_id: Uuid,
) -> ServiceResult<Uuid> {
    let rows: Vec<(Uuid, i32)> = membership::Entity::find()
        .select_only()
        .column(membership::Column::CommunityId)
        .column(membership::Column::Roles)
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(
            membership::Column::CommunityId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(region::Column::Id)
                    .from(region::Entity)
                    .and_where(region::Column::StreetId.eq(street_id))
                    .and_where(region::Column::Kind.eq(RegionKind::Community))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    let staff: Vec<Uuid> = rows
        .into_iter()
        .filter(|(_, bits)| bits & Role::Staff.bit() != 0)
        .map(|(id, _)| id)
        .collect();
    match staff.as_slice() {
        [only] => Ok(*only),
        [] => Err(ServiceError::Forbidden(Reason::NotPermitted)),
        _ => Err(ServiceError::bad_input(
            Reason::FieldRequired,
            "communityId",
            "您在本街道多个社区任职，请指定点选的社区",
        )),
    }
}

/// The delivering community's staff start a SELECTED project: its needs
/// move from MATCHED to IN_PROGRESS.
pub async fn start_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<project::Model> {
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        project::Model::delivering_community,
        Permission::ManageProjects,
    )
    .await?;
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::InProgress,
        vec![(project::Column::StartedAt, Expr::value(Some(Utc::now())))],
        standing.user_id,
        "start",
    )
    .await?;
    for need in claimed_needs(&txn, saved.id).await? {
        if need.status == NeedStatus::Matched {
            need_service::move_need(
                &txn,
                &need,
                NeedStatus::InProgress,
                None,
                standing.user_id,
                "start",
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(saved)
}

/// The delivering community's staff complete an IN_PROGRESS project: each
/// pledge consumes what `usage` says was used (all of it when not said) and
/// releases the rest; the needs become FULFILLED; `spent_fen` is recorded.
pub async fn complete_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    spent_fen: Option<i64>,
    usage: &[(Uuid, i32)],
) -> ServiceResult<project::Model> {
    if let Some(spent) = spent_fen
        && !(0..=MAX_BUDGET_FEN).contains(&spent)
    {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "spentFen",
            "支出（分）必须在0到20亿之间",
        ));
    }
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        project::Model::delivering_community,
        Permission::ManageProjects,
    )
    .await?;
    if found.status != ProjectStatus::InProgress {
        return Err(invalid_move(found.status));
    }
    let usage: HashMap<Uuid, i32> = usage.iter().copied().collect();
    let txn = begin_write(db).await?;
    let pledges = reserved_pledges(&txn, found.id).await?;
    for resource_id in usage.keys() {
        if !pledges.iter().any(|p| p.resource_id == *resource_id) {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "usage",
                "用量中有本项目未认领的资源",
            ));
        }
    }
    for pledge in &pledges {
        let used = usage
            .get(&pledge.resource_id)
            .copied()
            .unwrap_or(pledge.quantity);
        if !(0..=pledge.quantity).contains(&used) {
            return Err(ServiceError::bad_input(
                Reason::ValueOutOfRange,
                "usage",
                "用量必须在0到认领数量之间",
            ));
        }
        settle(&txn, pledge, used, standing.user_id).await?;
    }
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::Completed,
        vec![
            (project::Column::CompletedAt, Expr::value(Some(Utc::now()))),
            (project::Column::SpentFen, Expr::value(spent_fen)),
        ],
        standing.user_id,
        "complete",
    )
    .await?;
    for need in claimed_needs(&txn, saved.id).await? {
        if need.status == NeedStatus::InProgress {
            need_service::move_need(
                &txn,
                &need,
                NeedStatus::Fulfilled,
                None,
                standing.user_id,
                "fulfil",
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(saved)
}

/// The delivering community's staff close the evaluation of a COMPLETED
/// project (EVALUATED); ratings are then final.
pub async fn close_evaluation(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<project::Model> {
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        project::Model::delivering_community,
        Permission::ManageProjects,
    )
    .await?;
    let txn = begin_write(db).await?;
    let saved = move_project(
        &txn,
        &found,
        ProjectStatus::Evaluated,
        vec![(project::Column::EvaluatedAt, Expr::value(Some(Utc::now())))],
        standing.user_id,
        "close_evaluation",
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

async fn claimed_needs<C: ConnectionTrait>(
    db: &C,
    project_id: Uuid,
) -> ServiceResult<Vec<need::Model>> {
    Ok(need::Entity::find()
        .filter(need::Column::ProjectId.eq(project_id))
        .order_by_asc(need::Column::Id)
        .all(db)
        .await?)
}

// ---------- ratings ----------

/// A resident of the delivering community, or an observer over it, rates a
/// COMPLETED project (1–5 and a comment). Rating again replaces the rating.
pub async fn rate_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
    score: i32,
    comment: Option<&str>,
) -> ServiceResult<project::Model> {
    if !(1..=5).contains(&score) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "score",
            "评分必须在1到5之间",
        ));
    }
    let comment = optional_text("comment", comment, 1000)?;
    let (found, standing) = load_for(
        db,
        actor,
        project_id,
        project::Model::delivering_community,
        Permission::RateProject,
    )
    .await?;
    if found.status != ProjectStatus::Completed {
        return Err(ServiceError::invalid_state(
            Reason::ProjectStatusWrong,
            "只能评价已完成且尚未结束评价的项目",
        ));
    }
    let as_observer = !standing.roles.contains(&Role::Resident);
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let before = project_rating::Entity::find()
        .filter(project_rating::Column::ProjectId.eq(found.id))
        .filter(project_rating::Column::UserId.eq(standing.user_id))
        .one(&txn)
        .await?;
    // Still COMPLETED inside the transaction (the evaluation may have closed).
    let still_open = project::Entity::find_by_id(found.id)
        .filter(project::Column::Status.eq(ProjectStatus::Completed))
        .count(&txn)
        .await?;
    if still_open != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ProjectStatusWrong,
            "项目评价已结束",
        ));
    }
    project_rating::Entity::insert(project_rating::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(found.delivering_community()),
        project_id: Set(found.id),
        user_id: Set(standing.user_id),
        score: Set(score),
        comment: Set(comment.clone()),
        as_observer: Set(as_observer),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            project_rating::Column::ProjectId,
            project_rating::Column::UserId,
        ])
        .update_columns([
            project_rating::Column::Score,
            project_rating::Column::Comment,
            project_rating::Column::AsObserver,
            project_rating::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new(
            "project",
            found.id,
            if before.is_some() { "rerate" } else { "rate" },
        )
        .community(found.delivering_community())
        .actor(Some(standing.user_id))
        .change(
            before.map(|b| json!({"score": b.score, "comment": b.comment})),
            Some(json!({"score": score, "comment": comment, "asObserver": as_observer})),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(found)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RatingSummary {
    pub count: i64,
    pub average: Option<f64>,
}

#[derive(Debug, FromQueryResult)]
struct RatingRow {
    project_id: Uuid,
    count: i64,
    average: Option<f64>,
}

/// The number of ratings and their average for each of `projects`,
/// computed in the database (projects without ratings are left out).
pub async fn rating_summaries(
    db: &DatabaseConnection,
    projects: &[Uuid],
) -> Result<HashMap<Uuid, RatingSummary>, sea_orm::DbErr> {
    if projects.is_empty() {
        return Ok(HashMap::new());
    }
    let marks = vec!["?"; projects.len()].join(", ");
    let rows = RatingRow::find_by_statement(statement(
        db.get_database_backend(),
        &format!(
            "SELECT project_id, COUNT(*) AS count, CAST(AVG(score) AS DOUBLE PRECISION) AS average \
             FROM project_rating WHERE project_id IN ({marks}) GROUP BY project_id"
        ),
        projects.iter().map(|p| sea_orm::Value::from(*p)),
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.project_id,
                RatingSummary {
                    count: r.count,
                    average: r.average,
                },
            )
        })
        .collect())
}

pub async fn my_rating(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<Option<project_rating::Model>> {
    let Actor::User(user_id) = actor else {
        return Ok(None);
    };
    Ok(project_rating::Entity::find()
        .filter(project_rating::Column::ProjectId.eq(project_id))
        .filter(project_rating::Column::UserId.eq(*user_id))
        .one(db)
        .await?)
}

/// The ratings of a project, for those who may see the project.
pub async fn ratings(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<Vec<project_rating::Model>> {
    find_project(db, actor, project_id).await?;
    Ok(project_rating::Entity::find()
        .filter(project_rating::Column::ProjectId.eq(project_id))
        .order_by_asc(project_rating::Column::Id)
        .all(db)
        .await?)
}

// ---------- reading ----------

/// A project the caller may see: one of a community whose lists they may
/// view (creating or delivering it), or one in a street library they may see.
pub async fn find_project(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<project::Model> {
    actor.user_id()?;
    let found = project::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("项目"))?;
    if can_view(db, actor, &found).await? {
        Ok(found)
    } else {
        Err(ServiceError::NotFound("项目"))
    }
}

async fn can_view(
    db: &DatabaseConnection,
    actor: &Actor,
    p: &project::Model,
) -> ServiceResult<bool> {
    if policy::standing(db, actor, p.community_id)
        .await?
        .allows(Permission::ViewLists)
    {
        return Ok(true);
    }
    if let Some(selected) = p.selected_community_id
        && policy::standing(db, actor, selected)
            .await?
            .allows(Permission::ViewLists)
    {
        return Ok(true);
    }
    if p.status == ProjectStatus::InLibrary {
        let street = region::Entity::find_by_id(p.street_id)
            .one(db)
            .await?
            .ok_or(ServiceError::NotFound("街道"))?;
        return match policy::authorize_street_library(db, actor, &street).await {
            Ok(_) => Ok(true),
            Err(ServiceError::Forbidden(_)) => Ok(false),
            Err(other) => Err(other),
        };
    }
    Ok(false)
}

/// The community's projects: those it created and those it selected from
/// the library, oldest first.
pub async fn list_projects(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    status: Option<ProjectStatus>,
    page: PageRequest,
) -> ServiceResult<Page<project::Model>> {
    policy::authorize(db, actor, community_id, Permission::ViewLists).await?;
    let mut condition = Condition::all().add(
        Condition::any()
            .add(project::Column::CommunityId.eq(community_id))
            .add(project::Column::SelectedCommunityId.eq(community_id)),
    );
    if let Some(status) = status {
        condition = condition.add(project::Column::Status.eq(status));
    }
    paged(db, condition, page).await
}

/// A street's project library (项目库): projects IN_LIBRARY (or `status`).
pub async fn project_library(
    db: &DatabaseConnection,
    actor: &Actor,
    street_id: Uuid,
    status: Option<ProjectStatus>,
    page: PageRequest,
) -> ServiceResult<Page<project::Model>> {
    let street = region::Entity::find_by_id(street_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("街道"))?;
    policy::authorize_street_library(db, actor, &street).await?;
    let condition = Condition::all()
        .add(project::Column::StreetId.eq(street_id))
        .add(project::Column::Status.eq(status.unwrap_or(ProjectStatus::InLibrary)));
    paged(db, condition, page).await
}

async fn paged(
    db: &DatabaseConnection,
    condition: Condition,
    page: PageRequest,
) -> ServiceResult<Page<project::Model>> {
    Ok(paginate(
        db,
        project::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?)
}

/// The needs a project addresses, each as the caller may see it.
pub async fn project_needs(
    db: &DatabaseConnection,
    actor: &Actor,
    project: &project::Model,
) -> ServiceResult<Vec<NeedView>> {
    let needs = need::Entity::find()
        .filter(
            need::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(project_need::Column::NeedId)
                    .from(project_need::Entity)
                    .and_where(project_need::Column::ProjectId.eq(project.id))
                    .to_owned(),
            ),
        )
        .order_by_asc(need::Column::Id)
        .all(db)
        .await?;
    if needs.is_empty() {
        return Ok(Vec::new());
    }
    let standing = policy::standing(db, actor, project.community_id).await?;
    Ok(needs
        .into_iter()
        .map(|n| NeedView::for_standing(n, &standing))
        .collect())
}

/// The volunteer activities organised for a project (credits domain), for
/// those who may see the project.
pub async fn activities_of(
    db: &DatabaseConnection,
    actor: &Actor,
    project_id: Uuid,
) -> ServiceResult<Vec<entity::credits::activity::Model>> {
    use entity::credits::activity;
    find_project(db, actor, project_id).await?;
    Ok(activity::Entity::find()
        .filter(activity::Column::ProjectId.eq(project_id))
        .order_by_asc(activity::Column::StartsAt)
        .order_by_asc(activity::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_moves_forward_only() {
        let moves = ALL_STATUSES
            .iter()
            .flat_map(|a| ALL_STATUSES.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| allowed(*a, *b))
            .count();
        assert_eq!(moves, 8);
        assert!(!allowed(ProjectStatus::Draft, ProjectStatus::InLibrary));
        assert!(!allowed(
            ProjectStatus::Selected,
            ProjectStatus::RemovedFromLibrary
        ));
        assert!(!allowed(ProjectStatus::Evaluated, ProjectStatus::Completed));
    }
}
