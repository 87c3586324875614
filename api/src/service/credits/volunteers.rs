//! Volunteers (members with the VOLUNTEER role), their skills, and teams
//! (志愿服务队) with leaders.

use chrono::Utc;
use entity::credits::{team_member, volunteer_profile, volunteer_team};
use entity::org::membership::{self, MembershipStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Role};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// Trims, drops empties and duplicates, sorts; at most 20 skills of 20 chars.
pub fn normalise_skills(field: &'static str, skills: &[String]) -> ServiceResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for skill in skills {
        let skill = skill.trim();
        if skill.is_empty() {
            continue;
        }
        if skill.chars().count() > 20 || skill.contains('\n') {
            return Err(ServiceError::bad_input(
                Reason::TextTooLong,
                field,
                "每项技能不超过20个字",
            ));
        }
        if !out.iter().any(|s| s == skill) {
            out.push(skill.to_string());
        }
    }
    if out.len() > 20 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            field,
            "技能最多20项",
        ));
    }
    out.sort();
    Ok(out)
}

pub fn split_skills(stored: &str) -> Vec<String> {
    stored
        .lines()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An active member of the community holding the VOLUNTEER role.
pub async fn is_volunteer<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<bool> {
    let found = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(
            Expr::col(membership::Column::Roles)
                .bit_and(Role::Volunteer.bit())
                .ne(0),
        )
        .count(db)
        .await?;
    Ok(found > 0)
}

/// A volunteer sets their own skills.
pub async fn set_volunteer_skills(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    skills: &[String],
) -> ServiceResult<volunteer_profile::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::Volunteer).await?;
    if !grant.roles.contains(&Role::Volunteer) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let skills = normalise_skills("skills", skills)?.join("\n");
    let txn = begin_write(db).await?;
    let existing = volunteer_profile::Entity::find()
        .filter(volunteer_profile::Column::CommunityId.eq(community_id))
        .filter(volunteer_profile::Column::UserId.eq(grant.user_id))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let before = existing.as_ref().map(|p| json!({"skills": p.skills}));
    let saved = match existing {
        Some(found) => {
            let mut active: volunteer_profile::ActiveModel = found.into();
            active.skills = Set(skills);
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            volunteer_profile::ActiveModel {
                id: Set(Uuid::now_v7()),
                community_id: Set(community_id),
                user_id: Set(grant.user_id),
                skills: Set(skills),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::record(
        &txn,
        AuditEntry::new("volunteer_profile", saved.id, "set_skills")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(before, Some(json!({"skills": saved.skills}))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// A volunteer with their skills, as staff list them.
#[derive(Debug, Clone)]
pub struct VolunteerView {
    pub membership: membership::Model,
    pub skills: Vec<String>,
}

/// The community's volunteers (optionally with a skill), for staff.
pub async fn list_volunteers(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    skill: Option<String>,
    page: PageRequest,
) -> ServiceResult<Page<VolunteerView>> {
    policy::authorize(db, actor, community_id, Permission::ManageVolunteering).await?;
    let mut query = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(
            Expr::col(membership::Column::Roles)
                .bit_and(Role::Volunteer.bit())
                .ne(0),
        );
    if let Some(skill) = skill.filter(|s| !s.trim().is_empty()) {
        let skill = validate::text("skill", &skill, 20)?;
        let with_skill: Vec<Uuid> = volunteer_profile::Entity::find()
            .select_only()
            .column(volunteer_profile::Column::UserId)
            .filter(volunteer_profile::Column::CommunityId.eq(community_id))
            .filter(volunteer_profile::Column::Skills.contains(skill.as_str()))
            .into_tuple()
            .all(db)
            .await?;
        query = query.filter(membership::Column::UserId.is_in(with_skill));
    }
    let rows = paginate(db, query, Order::OldestFirst, page).await?;
    let user_ids: Vec<Uuid> = rows.items.iter().map(|m| m.user_id).collect();
    let profiles = volunteer_profile::Entity::find()
        .filter(volunteer_profile::Column::CommunityId.eq(community_id))
        .filter(volunteer_profile::Column::UserId.is_in(user_ids))
        .all(db)
        .await?;
    Ok(rows.map(|membership| VolunteerView {
        skills: profiles
            .iter()
            .find(|p| p.user_id == membership.user_id)
            .map(|p| split_skills(&p.skills))
            .unwrap_or_default(),
        membership,
    }))
}

// ---------- teams ----------

/// Staff create a team with a volunteer as its leader (who joins it).
pub async fn create_team(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    name: &str,
    leader_id: Uuid,
) -> ServiceResult<volunteer_team::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageVolunteering).await?;
    let name = validate::text("name", name, 64)?;
    if !is_volunteer(db, community_id, leader_id).await? {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "leaderId",
            "队长须是本社区的在册志愿者",
        ));
    }
    let txn = begin_write(db).await?;
    let now = Utc::now();
    let team = volunteer_team::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        name: Set(name),
        leader_id: Set(leader_id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    team_member::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        team_id: Set(team.id),
        user_id: Set(leader_id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("volunteer_team", team.id, "create")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(json!({"name": team.name, "leader": leader_id}))),
    )
    .await?;
    txn.commit().await?;
    Ok(team)
}

async fn team_for_management(
    db: &DatabaseConnection,
    actor: &Actor,
    team_id: Uuid,
) -> ServiceResult<(volunteer_team::Model, Uuid)> {
    let user_id = actor.user_id()?;
    let team = volunteer_team::Entity::find_by_id(team_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("志愿服务队"))?;
    let standing = policy::standing(db, actor, team.community_id).await?;
    let is_leader = team.leader_id == user_id && standing.is_member();
    if !is_leader && !standing.allows(Permission::ManageVolunteering) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    Ok((team, user_id))
}

/// Staff or the team's leader add a volunteer to the team.
pub async fn add_team_member(
    db: &DatabaseConnection,
    actor: &Actor,
    team_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<volunteer_team::Model> {
    let (team, actor_id) = team_for_management(db, actor, team_id).await?;
    if !is_volunteer(db, team.community_id, user_id).await? {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "userId",
            "队员须是本社区的在册志愿者",
        ));
    }
    let txn = begin_write(db).await?;
    let added = team_member::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(team.community_id),
        team_id: Set(team.id),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("team_member", added.id, "add")
            .community(team.community_id)
            .actor(Some(actor_id))
            .change(None, Some(json!({"team": team.id, "user": user_id}))),
    )
    .await?;
    txn.commit().await?;
    Ok(team)
}

/// Staff or the leader remove a member (the leader stays while leading).
pub async fn remove_team_member(
    db: &DatabaseConnection,
    actor: &Actor,
    team_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<volunteer_team::Model> {
    let (team, actor_id) = team_for_management(db, actor, team_id).await?;
    if user_id == team.leader_id {
        return Err(ServiceError::invalid_state(
            Reason::TeamLeaderRequired,
            "队长不能被移出队伍",
        ));
    }
    let txn = begin_write(db).await?;
    let found = team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(team.id))
        .filter(team_member::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("队员"))?;
    team_member::Entity::delete_by_id(found.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEntry::new("team_member", found.id, "remove")
            .community(team.community_id)
            .actor(Some(actor_id))
            .change(Some(json!({"team": team.id, "user": user_id})), None),
    )
    .await?;
    txn.commit().await?;
    Ok(team)
}

pub async fn list_teams(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Vec<volunteer_team::Model>> {
    policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    Ok(volunteer_team::Entity::find()
        .filter(volunteer_team::Column::CommunityId.eq(community_id))
        .order_by_asc(volunteer_team::Column::Id)
        .all(db)
        .await?)
}

pub async fn team_member_ids<C: ConnectionTrait>(
    db: &C,
    team_id: Uuid,
) -> ServiceResult<Vec<Uuid>> {
    Ok(team_member::Entity::find()
        .select_only()
        .column(team_member::Column::UserId)
        .filter(team_member::Column::TeamId.eq(team_id))
        .order_by_asc(team_member::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}
