//! The resources list (资源清单): offers by members, organisations and staff,
//! with the four actions, quantities, availability windows and the status
//! AVAILABLE → RESERVED (fully pledged) / EXHAUSTED (fully used) / WITHDRAWN.

use chrono::{DateTime, Utc};
use entity::lists::organisation;
use entity::lists::resource::{self, FourAction, ResourceCategory, ResourceStatus};
use entity::lists::resource_window;
use entity::org::membership::{self, MembershipStatus};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::optional_text;
use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Role};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

pub const MAX_SKILLS: usize = 10;
pub const MAX_WINDOWS: usize = 20;
/// Funds are counted in fen (分), never in floats.
pub const FUNDS_UNIT: &str = "分";

pub struct NewResource<'a> {
    pub community_id: Uuid,
    pub title: &'a str,
    pub category: ResourceCategory,
    pub action: FourAction,
    pub quantity: i32,
    pub unit: &'a str,
    pub description: Option<&'a str>,
    /// Offered by this organisation (the caller represents it, or is staff).
    pub organisation_id: Option<Uuid>,
    /// Offered by this member, entered by staff for them.
    pub provider_id: Option<Uuid>,
    pub skills: &'a [String],
    pub windows: &'a [(DateTime<Utc>, DateTime<Utc>)],
}

pub async fn create_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewResource<'_>,
) -> ServiceResult<resource::Model> {
    let standing = policy::standing(db, actor, input.community_id).await?;
    let title = validate::text("title", input.title, 100)?;
    // "unit" is a household's unit (单元) elsewhere: say what is meant here.
    let unit = validate::text("unit", input.unit, 16).map_err(|_| {
        ServiceError::bad_input(Reason::TextTooLong, "unit", "计量单位须为1到16个字")
    })?;
    let description = optional_text("description", input.description, 2000)?;
    if input.quantity <= 0 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quantity",
            "数量必须大于0",
        ));
    }
    if input.category == ResourceCategory::Funds && unit != FUNDS_UNIT {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "unit",
            "资金类资源以“分”为单位登记数量",
        ));
    }
    let skills = skills(input.skills)?;
    if input.windows.len() > MAX_WINDOWS {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "windows",
            format!("可用时段最多{MAX_WINDOWS}个"),
        ));
    }
    if input.windows.iter().any(|(from, to)| to <= from) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "windows",
            "可用时段的结束时间必须晚于开始时间",
        ));
    }
    let community = standing.community.clone();
    let street_id = community.street_id.unwrap_or(community.district_id);

    // Who offers it: an organisation, a member entered by staff, or the caller.
    let (organisation_id, provider_id, from_party_member) =
        match (input.organisation_id, input.provider_id) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::bad_input(
                    Reason::InvalidField,
                    "providerId",
                    "资源提供方只能是组织或个人之一",
                ));
            }
            (Some(org_id), None) => {
                let org = organisation::Entity::find_by_id(org_id)
                    .one(db)
                    .await?
                    .ok_or(ServiceError::NotFound("组织"))?;
                let registered_here = org.street_id == street_id
                    && org.community_id.is_none_or(|c| c == community.id);
                if !registered_here {
                    return Err(ServiceError::bad_input(
                        Reason::ReferenceInvalid,
                        "organisationId",
                        "该组织未在本社区或本街道登记",
                    ));
                }
                if !standing.allows(Permission::ManageResources)
                    && !policy::represents(db, standing.user_id, org.id).await?
                {
                    return Err(ServiceError::Forbidden(Reason::NotPermitted));
                }
                (Some(org.id), None, false)
            }
            (None, Some(provider)) if provider != standing.user_id => {
                if !standing.allows(Permission::ManageResources) {
                    return Err(ServiceError::Forbidden(Reason::NotPermitted));
                }
                let roles = active_roles(db, provider, community.id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::bad_input(
                            Reason::ReferenceInvalid,
                            "providerId",
                            "提供人不是本社区在册成员",
                        )
                    })?;
                (None, Some(provider), roles.contains(&Role::PartyMember))
            }
            _ => {
                if !standing.allows(Permission::OfferAndRequest) {
                    return Err(ServiceError::Forbidden(Reason::NotPermitted));
                }
                let party = standing.roles.contains(&Role::PartyMember);
                (None, Some(standing.user_id), party)
            }
        };
    if input.action == FourAction::PartyMemberService && !from_party_member {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "action",
            "“党员为民服务”只能由党员提供",
        ));
    }

    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = begin_write(db).await?;
    let created = resource::ActiveModel {
        id: Set(id),
        community_id: Set(community.id),
        street_id: Set(street_id),
        organisation_id: Set(organisation_id),
        provider_id: Set(provider_id),
        entered_by: Set(standing.user_id),
        from_party_member: Set(from_party_member),
        category: Set(input.category),
        action: Set(input.action),
        title: Set(title),
        description: Set(description),
        skills: Set(skills),
        quantity: Set(input.quantity),
        reserved: Set(0),
        used: Set(0),
        unit: Set(unit),
        status: Set(ResourceStatus::Available),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    for (starts_at, ends_at) in input.windows {
        resource_window::ActiveModel {
            id: Set(Uuid::now_v7()),
            community_id: Set(community.id),
            resource_id: Set(id),
            starts_at: Set(*starts_at),
            ends_at: Set(*ends_at),
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        AuditEntry::new("resource", id, "create")
            .community(community.id)
            .actor(Some(standing.user_id))
            .change(None, Some(state_json(&created))),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

fn skills(raw: &[String]) -> ServiceResult<String> {
    if raw.len() > MAX_SKILLS {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "skills",
            format!("技能标签最多{MAX_SKILLS}个"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for skill in raw {
        let skill = validate::text("skills", skill, 16)?;
        if skill.contains(',') {
            return Err(ServiceError::bad_input(
                Reason::InvalidField,
                "skills",
                "技能标签不能包含逗号",
            ));
        }
        if !out.contains(&skill) {
            out.push(skill);
        }
    }
    Ok(out.join(","))
}

async fn active_roles<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    community_id: Uuid,
) -> ServiceResult<Option<Vec<Role>>> {
    let bits: Option<i32> = membership::Entity::find()
        .select_only()
        .column(membership::Column::Roles)
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .into_tuple()
        .one(db)
        .await?;
    Ok(bits.map(Role::from_bits))
}

/// Whether `user_id` is an ACTIVE member of the community.
pub(crate) async fn is_active_member<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    community_id: Uuid,
) -> ServiceResult<bool> {
    Ok(active_roles(db, user_id, community_id).await?.is_some())
}

pub fn state_json(r: &resource::Model) -> serde_json::Value {
    json!({
        "status": r.status.to_value(),
        "quantity": r.quantity,
        "reserved": r.reserved,
        "used": r.used,
    })
}

/// Loads a resource the caller may see: of a community where they may view
/// the lists (or of its street, for staff matching there).
pub async fn find_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
) -> ServiceResult<resource::Model> {
    actor.user_id()?;
    let found = resource::Entity::find_by_id(resource_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewLists) {
        return Err(ServiceError::NotFound("资源"));
    }
    Ok(found)
}

/// Withdraws a resource nobody has pledged (AVAILABLE → WITHDRAWN): by its
/// provider, a representative of its organisation, or staff.
pub async fn withdraw_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
) -> ServiceResult<resource::Model> {
    let (found, user_id) = load_for_change(db, actor, resource_id).await?;
    if found.status != ResourceStatus::Available || found.reserved > 0 {
        return Err(ServiceError::invalid_state(
            Reason::ResourceStatusWrong,
            match found.status {
                ResourceStatus::Withdrawn => "资源已撤回",
                ResourceStatus::Exhausted => "资源已用完，无需撤回",
                _ => "资源已被项目预留，项目结束后才能撤回",
            },
        ));
    }
    let txn = begin_write(db).await?;
    let updated = resource::Entity::update_many()
        .col_expr(
            resource::Column::Status,
            Expr::value(ResourceStatus::Withdrawn.to_value()),
        )
        .col_expr(resource::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(resource::Column::Id.eq(found.id))
        .filter(resource::Column::Status.eq(ResourceStatus::Available))
        .filter(resource::Column::Reserved.eq(0))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "资源状态已变化，请刷新后重试",
        ));
    }
    finish_change(txn, &found, user_id, "withdraw").await
}

/// Offers a withdrawn resource again (WITHDRAWN → AVAILABLE, or EXHAUSTED
/// when nothing is left).
pub async fn restore_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
) -> ServiceResult<resource::Model> {
    let (found, user_id) = load_for_change(db, actor, resource_id).await?;
    if found.status != ResourceStatus::Withdrawn {
        return Err(ServiceError::invalid_state(
            Reason::ResourceStatusWrong,
            "只能重新上架已撤回的资源",
        ));
    }
    let next = if found.remaining() > 0 {
        ResourceStatus::Available
    } else {
        ResourceStatus::Exhausted
    };
    let txn = begin_write(db).await?;
    let updated = resource::Entity::update_many()
        .col_expr(resource::Column::Status, Expr::value(next.to_value()))
        .col_expr(resource::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(resource::Column::Id.eq(found.id))
        .filter(resource::Column::Status.eq(ResourceStatus::Withdrawn))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "资源状态已变化，请刷新后重试",
        ));
    }
    finish_change(txn, &found, user_id, "restore").await
}

/// Adds units to a resource that is not withdrawn: an EXHAUSTED or fully
/// RESERVED resource becomes AVAILABLE again.
pub async fn restock_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
    added: i32,
) -> ServiceResult<resource::Model> {
    if added <= 0 || added > 1_000_000_000 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quantity",
            "增加的数量必须大于0",
        ));
    }
    let (found, user_id) = load_for_change(db, actor, resource_id).await?;
    if found.status == ResourceStatus::Withdrawn {
        return Err(ServiceError::invalid_state(
            Reason::ResourceStatusWrong,
            "资源已撤回，请先重新上架",
        ));
    }
    let txn = begin_write(db).await?;
    let backend = txn.get_database_backend();
    let result = txn
        .execute_raw(super::statement(
            backend,
            "UPDATE resource SET quantity = quantity + ?, status = 'AVAILABLE', updated_at = ? \
             WHERE id = ? AND status <> 'WITHDRAWN'",
            [added.into(), Utc::now().into(), found.id.into()],
        ))
        .await?;
    if result.rows_affected() != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "资源状态已变化，请刷新后重试",
        ));
    }
    finish_change(txn, &found, user_id, "restock").await
}

async fn load_for_change(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
) -> ServiceResult<(resource::Model, Uuid)> {
    let user_id = actor.user_id()?;
    let found = resource::Entity::find_by_id(resource_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    let own = found.provider_id == Some(user_id) && standing.is_member();
    let represents = match found.organisation_id {
        Some(org) => policy::represents(db, user_id, org).await?,
        None => false,
    };
    if own || represents || standing.allows(Permission::ManageResources) {
        Ok((found, user_id))
    } else if standing.allows(Permission::ViewLists) {
        Err(ServiceError::Forbidden(Reason::NotPermitted))
    } else {
        Err(ServiceError::NotFound("资源"))
    }
}

async fn finish_change(
    txn: crate::db::WriteTransaction,
    before: &resource::Model,
    user_id: Uuid,
    action: &'static str,
) -> ServiceResult<resource::Model> {
    let after = resource::Entity::find_by_id(before.id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    audit::record(
        &txn,
        AuditEntry::new("resource", after.id, action)
            .community(after.community_id)
            .actor(Some(user_id))
            .change(Some(state_json(before)), Some(state_json(&after))),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    pub category: Option<ResourceCategory>,
    pub action: Option<FourAction>,
    pub status: Option<ResourceStatus>,
    /// The member who offers it.
    pub provider_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    /// Words in the title, description or skills.
    pub keyword: Option<String>,
}

/// The community's resources, oldest first, keyset-paged by id.
pub async fn list_resources(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    filter: ResourceFilter,
    page: PageRequest,
) -> ServiceResult<Page<resource::Model>> {
    policy::authorize(db, actor, community_id, Permission::ViewLists).await?;
    let mut condition = Condition::all().add(resource::Column::CommunityId.eq(community_id));
    if let Some(category) = filter.category {
        condition = condition.add(resource::Column::Category.eq(category));
    }
    if let Some(action) = filter.action {
        condition = condition.add(resource::Column::Action.eq(action));
    }
    if let Some(status) = filter.status {
        condition = condition.add(resource::Column::Status.eq(status));
    }
    if let Some(provider) = filter.provider_id {
        condition = condition.add(resource::Column::ProviderId.eq(provider));
    }
    if let Some(org) = filter.organisation_id {
        condition = condition.add(resource::Column::OrganisationId.eq(org));
    }
    if let Some(keyword) = filter
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let keyword = validate::text("keyword", keyword, 32)?;
        let pattern = format!("%{}%", escape_like(&keyword.to_lowercase()));
        let like = |col: resource::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        condition = condition.add(
            Condition::any()
                .add(like(resource::Column::Title))
                .add(like(resource::Column::Description))
                .add(like(resource::Column::Skills)),
        );
    }
    Ok(paginate(
        db,
        resource::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?)
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
