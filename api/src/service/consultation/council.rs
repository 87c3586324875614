//! Councils (议事会): named deliberation bodies of one community, whose
//! members are active members of it.

use std::collections::BTreeSet;

use chrono::Utc;
use entity::consultation::{council, council_member};
use entity::org::membership::{self, MembershipStatus};
use entity::org::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};
use crate::service::validate;

pub const MAX_COUNCIL_MEMBERS: usize = 200;

pub async fn create_council(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    name: &str,
    member_ids: &[Uuid],
) -> ServiceResult<council::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageConsultation).await?;
    let name = validate::text("name", name, 64)?;
    let members = check_members(db, community_id, member_ids).await?;
    let txn = begin_write(db).await?;
    let created = council::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        name: Set(name),
        created_by: Set(grant.user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    insert_members(&txn, &created, &members).await?;
    audit::record(
        &txn,
        AuditEntry::new("council", created.id, "create")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(
                None,
                Some(json!({"name": created.name, "members": members})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Replaces a council's members.
pub async fn set_council_members(
    db: &DatabaseConnection,
    actor: &Actor,
    council_id: Uuid,
    member_ids: &[Uuid],
) -> ServiceResult<council::Model> {
    let found = find_council(db, council_id).await?;
    let grant = policy::authorize(
        db,
        actor,
        found.community_id,
        Permission::ManageConsultation,
    )
    .await?;
    let members = check_members(db, found.community_id, member_ids).await?;
    let txn = begin_write(db).await?;
    let before = member_ids_of(&txn, council_id).await?;
    council_member::Entity::delete_many()
        .filter(council_member::Column::CouncilId.eq(council_id))
        .exec(&txn)
        .await?;
    insert_members(&txn, &found, &members).await?;
    audit::record(
        &txn,
        AuditEntry::new("council", council_id, "set_members")
            .community(found.community_id)
            .actor(Some(grant.user_id))
            .change(
                Some(json!({"members": before})),
                Some(json!({"members": members})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(found)
}

pub async fn councils(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Vec<council::Model>> {
    policy::authorize(db, actor, community_id, Permission::ViewConsultation).await?;
    Ok(council::Entity::find()
        .filter(council::Column::CommunityId.eq(community_id))
        .order_by_asc(council::Column::Id)
        .all(db)
        .await?)
}

pub async fn council(
    db: &DatabaseConnection,
    actor: &Actor,
    council_id: Uuid,
) -> ServiceResult<council::Model> {
    let found = find_council(db, council_id).await?;
    policy::authorize(db, actor, found.community_id, Permission::ViewConsultation).await?;
    Ok(found)
}

pub async fn council_members(
    db: &DatabaseConnection,
    council_id: Uuid,
) -> ServiceResult<Vec<user::Model>> {
    let ids = member_ids_of(db, council_id).await?;
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?)
}

pub(crate) async fn find_council<C: ConnectionTrait>(
    db: &C,
    council_id: Uuid,
) -> ServiceResult<council::Model> {
    council::Entity::find_by_id(council_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("议事会"))
}

pub(crate) async fn member_ids_of<C: ConnectionTrait>(
    db: &C,
    council_id: Uuid,
) -> ServiceResult<Vec<Uuid>> {
    Ok(council_member::Entity::find()
        .select_only()
        .column(council_member::Column::UserId)
        .filter(council_member::Column::CouncilId.eq(council_id))
        .order_by_asc(council_member::Column::UserId)
        .into_tuple()
        .all(db)
        .await?)
}

pub(crate) async fn is_council_member<C: ConnectionTrait>(
    db: &C,
    council_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<bool> {
    Ok(council_member::Entity::find_by_id((council_id, user_id))
        .one(db)
        .await?
        .is_some())
}

/// The distinct ids, each an ACTIVE member of the community.
async fn check_members(
    db: &DatabaseConnection,
    community_id: Uuid,
    member_ids: &[Uuid],
) -> ServiceResult<Vec<Uuid>> {
    let wanted: BTreeSet<Uuid> = member_ids.iter().copied().collect();
    if wanted.is_empty() {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "memberIds",
            "议事会至少要有一名成员",
        ));
    }
    if wanted.len() > MAX_COUNCIL_MEMBERS {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "memberIds",
            format!("议事会成员不能超过{MAX_COUNCIL_MEMBERS}人"),
        ));
    }
    let active: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(membership::Column::UserId.is_in(wanted.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    if active.len() != wanted.len() {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "memberIds",
            "议事会成员须为本社区在册成员",
        ));
    }
    Ok(wanted.into_iter().collect())
}

async fn insert_members<C: ConnectionTrait>(
    db: &C,
    council: &council::Model,
    members: &[Uuid],
) -> ServiceResult<()> {
    let now = Utc::now();
    council_member::Entity::insert_many(members.iter().map(|user_id| {
        council_member::ActiveModel {
            council_id: Set(council.id),
            user_id: Set(*user_id),
            community_id: Set(council.community_id),
            created_at: Set(now),
        }
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}
