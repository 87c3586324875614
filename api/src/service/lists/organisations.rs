//! Organisations (社会组织, 辖区单位) registered in a community or with a
//! street, and the representatives who act for them.

use chrono::Utc;
use entity::lists::organisation::{self, OrganisationKind};
use entity::lists::organisation_representative as representative;
use entity::org::region::{self, RegionKind};
use entity::org::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::optional_text;
use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, RegionPermission};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// Who may manage an organisation registered in `region` (a community or a
/// street): the community's staff and officers above, or the street's officers.
async fn authorize_manage(
    db: &DatabaseConnection,
    actor: &Actor,
    region: &region::Model,
) -> ServiceResult<Uuid> {
    match region.kind {
        RegionKind::Community => {
            Ok(
                policy::authorize(db, actor, region.id, Permission::ManageOrganisations)
                    .await?
                    .user_id,
            )
        }
        RegionKind::Street => {
            policy::authorize_region(
                db,
                actor,
                Some(region),
                RegionPermission::ManageOrganisations,
            )
            .await
        }
        RegionKind::District => Err(ServiceError::bad_input(
            Reason::InvalidField,
            "regionId",
            "组织登记在社区或街道",
        )),
    }
}

pub async fn create_organisation(
    db: &DatabaseConnection,
    actor: &Actor,
    region_id: Uuid,
    name: &str,
    kind: OrganisationKind,
    description: Option<&str>,
) -> ServiceResult<organisation::Model> {
    actor.user_id()?;
    let name = validate::text("name", name, 64)?;
    let description = optional_text("description", description, 1000)?;
    let region = region::Entity::find_by_id(region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    let user_id = authorize_manage(db, actor, &region).await?;
    let (community_id, street_id) = match region.kind {
        RegionKind::Community => (
            Some(region.id),
            region.street_id.unwrap_or(region.district_id),
        ),
        _ => (None, region.id),
    };
    let txn = begin_write(db).await?;
    let created = organisation::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        street_id: Set(street_id),
        name: Set(name),
        kind: Set(kind),
        description: Set(description),
        created_by: Set(user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let mut entry = AuditEntry::new("organisation", created.id, "create")
        .actor(Some(user_id))
        .change(
            None,
            Some(json!({"name": created.name, "street": street_id})),
        );
    if let Some(c) = community_id {
        entry = entry.community(c);
    }
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(created)
}

async fn load_for_management(
    db: &DatabaseConnection,
    actor: &Actor,
    organisation_id: Uuid,
) -> ServiceResult<(organisation::Model, Uuid)> {
    actor.user_id()?;
    let org = organisation::Entity::find_by_id(organisation_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("组织"))?;
    let region_id = org.community_id.unwrap_or(org.street_id);
    let region = region::Entity::find_by_id(region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    let user_id = authorize_manage(db, actor, &region).await?;
    Ok((org, user_id))
}

/// Names a user as a representative of the organisation.
pub async fn add_representative(
    db: &DatabaseConnection,
    actor: &Actor,
    organisation_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<organisation::Model> {
    let (org, actor_id) = load_for_management(db, actor, organisation_id).await?;
    let exists = user::Entity::find_by_id(user_id).count(db).await?;
    if exists == 0 {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "userId",
            "该用户不存在",
        ));
    }
    let txn = begin_write(db).await?;
    let rep = representative::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(org.id),
        street_id: Set(org.street_id),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let mut entry = AuditEntry::new("organisation", org.id, "add_representative")
        .actor(Some(actor_id))
        .change(None, Some(json!({"representative": rep.user_id})));
    if let Some(c) = org.community_id {
        entry = entry.community(c);
    }
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(org)
}

pub async fn remove_representative(
    db: &DatabaseConnection,
    actor: &Actor,
    organisation_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<organisation::Model> {
    let (org, actor_id) = load_for_management(db, actor, organisation_id).await?;
    let txn = begin_write(db).await?;
    let deleted = representative::Entity::delete_many()
        .filter(representative::Column::OrganisationId.eq(org.id))
        .filter(representative::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ServiceError::NotFound("组织代表"));
    }
    let mut entry = AuditEntry::new("organisation", org.id, "remove_representative")
        .actor(Some(actor_id))
        .change(Some(json!({"representative": user_id})), None);
    if let Some(c) = org.community_id {
        entry = entry.community(c);
    }
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(org)
}

/// The organisations serving a community: registered in it or with its street.
pub async fn list_organisations(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<organisation::Model>> {
    let grant = policy::authorize(db, actor, community_id, Permission::ViewLists).await?;
    let street_id = grant
        .community
        .street_id
        .unwrap_or(grant.community.district_id);
    let condition = Condition::all()
        .add(organisation::Column::StreetId.eq(street_id))
        .add(
            Condition::any()
                .add(organisation::Column::CommunityId.eq(community_id))
                .add(organisation::Column::CommunityId.is_null()),
        );
    Ok(paginate(
        db,
        organisation::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?)
}

/// The representatives of an organisation (its managers and its representatives see them).
pub async fn representatives(
    db: &DatabaseConnection,
    actor: &Actor,
    organisation_id: Uuid,
) -> ServiceResult<Vec<Uuid>> {
    let user_id = actor.user_id()?;
    let is_rep = policy::represents(db, user_id, organisation_id).await?;
    if !is_rep {
        load_for_management(db, actor, organisation_id).await?;
    }
    Ok(representative::Entity::find()
        .select_only()
        .column(representative::Column::UserId)
        .filter(representative::Column::OrganisationId.eq(organisation_id))
        .order_by_asc(representative::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}
