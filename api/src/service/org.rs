//! Places and people (DESIGN §2): the region tree, officers, households and
//! memberships with their state machine PENDING → ACTIVE → LEFT (or REJECTED).

use chrono::Utc;
use entity::org::membership::{self, MembershipStatus};
use entity::org::region::{self, RegionKind};
use entity::org::region_officer::{self, OfficerRole};
use entity::org::{household, user};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::crypto::{DataKeys, SealedColumn};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, RegionPermission, Role};
use crate::service::auth::create_password_user;
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

// ---------- regions ----------

pub async fn create_region(
    db: &DatabaseConnection,
    actor: &Actor,
    name: &str,
    kind: RegionKind,
    parent_id: Option<Uuid>,
) -> ServiceResult<region::Model> {
    let name = validate::text("name", name, 64)?;
    let parent = match parent_id {
        Some(id) => Some(
            region::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(ServiceError::NotFound("上级区域"))?,
        ),
        None => None,
    };
    let expected_parent = match kind {
        RegionKind::District => None,
        RegionKind::Street => Some(RegionKind::District),
        RegionKind::Community => Some(RegionKind::Street),
    };
    match (&parent, expected_parent) {
        (None, None) => {}
        (Some(p), Some(expected)) if p.kind == expected => {}
        (_, None) => {
            return Err(ServiceError::bad_input(
                Reason::InvalidField,
                "parentId",
                "区不能有上级区域",
            ));
        }
        (_, Some(RegionKind::District)) => {
            return Err(ServiceError::bad_input(
                Reason::InvalidField,
                "parentId",
                "街道的上级必须是区",
            ));
        }
        (_, Some(_)) => {
            return Err(ServiceError::bad_input(
                Reason::InvalidField,
                "parentId",
                "社区的上级必须是街道",
            ));
        }
    }
    let actor_id = policy::authorize_region(
        db,
        actor,
        parent.as_ref(),
        RegionPermission::CreateChild(kind),
    )
    .await?;

    let id = Uuid::now_v7();
    let (district_id, street_id) = match (&parent, kind) {
        (None, _) => (id, None),
        (Some(p), RegionKind::Street) => (p.id, Some(id)),
        (Some(p), _) => (p.district_id, Some(p.id)),
    };
    let txn = begin_write(db).await?;
    let duplicate = region::Entity::find()
        .filter(match parent_id {
            Some(pid) => region::Column::ParentId.eq(pid),
            None => region::Column::ParentId.is_null(),
        })
        .filter(region::Column::Name.eq(name.as_str()))
        .count(&txn)
        .await?;
    if duplicate > 0 {
        return Err(ServiceError::conflict(
            Reason::NameTaken,
            "同一上级下已有同名区域",
        ));
    }
    let created = region::ActiveModel {
        id: Set(id),
        name: Set(name),
        kind: Set(kind),
        parent_id: Set(parent_id),
        district_id: Set(district_id),
        street_id: Set(street_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let mut entry = AuditEntry::new("region", id, "create")
        .actor(Some(actor_id))
        .change(
            None,
            Some(json!({"name": created.name, "kind": kind.to_value()})),
        );
    if kind == RegionKind::Community {
        entry = entry.community(id);
    }
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn find_region(
    db: &DatabaseConnection,
    id: Uuid,
) -> ServiceResult<Option<region::Model>> {
    Ok(region::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_community(
    db: &DatabaseConnection,
    id: Uuid,
) -> ServiceResult<Option<region::Model>> {
    match policy::find_community(db, id).await {
        Ok(found) => Ok(Some(found)),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The public directory of regions: children of `parent_id` (districts when none).
pub async fn child_regions(
    db: &DatabaseConnection,
    parent_id: Option<Uuid>,
    page: PageRequest,
) -> ServiceResult<Page<region::Model>> {
    let filter = match parent_id {
        Some(id) => Condition::all().add(region::Column::ParentId.eq(id)),
        None => Condition::all().add(region::Column::ParentId.is_null()),
    };
    Ok(paginate(
        db,
        region::Entity::find().filter(filter),
        Order::OldestFirst,
        page,
    )
    .await?)
}

// ---------- officers ----------

pub struct AppointOfficer<'a> {
    pub region_id: Uuid,
    pub phone: &'a str,
    pub display_name: &'a str,
    /// Needed only when no account has this phone yet.
    pub initial_password: Option<&'a str>,
    pub role: OfficerRole,
}

pub async fn appoint_officer(
    db: &DatabaseConnection,
    keys: &DataKeys,
    actor: &Actor,
    input: AppointOfficer<'_>,
) -> ServiceResult<region_officer::Model> {
    let region = region::Entity::find_by_id(input.region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    if !officer_role_fits(input.role, region.kind) {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "role",
            "该职务与区域级别不符",
        ));
    }
    let actor_id = policy::authorize_region(
        db,
        actor,
        Some(&region),
        RegionPermission::AppointOfficer(input.role),
    )
    .await?;
    let phone = validate::phone("phone", input.phone)?;
    let txn = begin_write(db).await?;
    let existing = user::Entity::find()
        .filter(user::Column::LoginPhoneBlindIndex.eq(keys.phone_index(&phone)))
        .one(&txn)
        .await?;
    let officer_user = match existing {
        Some(found) => found,
        None => {
            let Some(password) = input.initial_password else {
                return Err(ServiceError::bad_input(
                    Reason::FieldRequired,
                    "initialPassword",
                    "该手机号还没有账号，请设置初始密码",
                ));
            };
            create_password_user(&txn, keys, &phone, input.display_name, password, false).await?
        }
    };
    let appointed = region_officer::ActiveModel {
        id: Set(Uuid::now_v7()),
        region_id: Set(region.id),
        user_id: Set(officer_user.id),
        role: Set(input.role),
        appointed_by: Set(Some(actor_id)),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("region_officer", appointed.id, "appoint")
            .actor(Some(actor_id))
            .change(None, Some(json!({"region": region.id, "user": officer_user.id, "role": input.role.to_value()}))),
    )
    .await?;
    txn.commit().await?;
    Ok(appointed)
}

pub async fn revoke_officer(
    db: &DatabaseConnection,
    actor: &Actor,
    officer_id: Uuid,
) -> ServiceResult<region_officer::Model> {
    let officer = region_officer::Entity::find_by_id(officer_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("任职记录"))?;
    let region = region::Entity::find_by_id(officer.region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    let actor_id = policy::authorize_region(
        db,
        actor,
        Some(&region),
        RegionPermission::AppointOfficer(officer.role),
    )
    .await?;
    let txn = begin_write(db).await?;
    region_officer::Entity::delete_by_id(officer.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEntry::new("region_officer", officer.id, "revoke")
            .actor(Some(actor_id))
            .change(Some(json!({"region": region.id, "user": officer.user_id, "role": officer.role.to_value()})), None),
    )
    .await?;
    txn.commit().await?;
    Ok(officer)
}

pub async fn officer_roles_of(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> ServiceResult<Vec<region_officer::Model>> {
    Ok(region_officer::Entity::find()
        .filter(region_officer::Column::UserId.eq(user_id))
        .order_by_asc(region_officer::Column::Id)
        .all(db)
        .await?)
}

/// District officers sit on districts, street officers on streets; observers anywhere.
pub fn officer_role_fits(role: OfficerRole, kind: RegionKind) -> bool {
    match role {
        OfficerRole::DistrictAdmin => kind == RegionKind::District,
        OfficerRole::StreetAdmin => kind == RegionKind::Street,
        OfficerRole::Observer => true,
    }
}

// ---------- users ----------

pub async fn find_user(db: &DatabaseConnection, id: Uuid) -> ServiceResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

pub async fn update_profile(
    db: &DatabaseConnection,
    actor: &Actor,
    display_name: &str,
) -> ServiceResult<user::Model> {
    let user_id = actor.user_id()?;
    let display_name = validate::text("displayName", display_name, 32)?;
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or_else(ServiceError::session_invalid)?;
    let mut active: user::ActiveModel = user.into();
    active.display_name = Set(display_name);
    Ok(active.update(db).await?)
}

// ---------- memberships ----------

/// A membership as one viewer may see it.
#[derive(Debug, Clone)]
pub struct MembershipView {
    pub membership: membership::Model,
    /// Whether the viewer may see the real name and phone unmasked: the
    /// member, and the community's staff.
    pub reveal_personal: bool,
}

impl MembershipView {
    pub fn real_name(&self) -> String {
        if self.reveal_personal {
            self.membership.real_name.clone()
        } else {
            mask_name(&self.membership.real_name)
        }
    }

    /// The phone, opened, and masked unless the viewer may see it.
    pub fn phone(&self, keys: &DataKeys) -> ServiceResult<String> {
        let phone = open_membership_phone(keys, &self.membership)?;
        Ok(if self.reveal_personal {
            phone
        } else {
            mask_phone(&phone)
        })
    }
}

/// A membership's phone, opened; empty once the person erased their account.
pub fn open_membership_phone(
    keys: &DataKeys,
    membership: &membership::Model,
) -> ServiceResult<String> {
    if membership.phone_sealed.is_empty() {
        return Ok(String::new());
    }
    Ok(keys.open(
        SealedColumn::MembershipPhone,
        membership.id,
        &membership.phone_sealed,
    )?)
}

/// 张三 → 张*, 欧阳娜娜 → 欧***.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

/// 13812345678 → 138****5678.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

pub struct JoinRequest<'a> {
    pub community_id: Uuid,
    pub real_name: &'a str,
    pub phone: &'a str,
    pub building: &'a str,
    pub unit: &'a str,
    pub room: &'a str,
}

/// A resident asks to join a community (PENDING until staff approve). A
/// member who left or was refused may ask again.
pub async fn join_community(
    db: &DatabaseConnection,
    keys: &DataKeys,
    actor: &Actor,
    request: JoinRequest<'_>,
) -> ServiceResult<MembershipView> {
    let user_id = actor.user_id()?;
    let real_name = validate::text("realName", request.real_name, 32)?;
    let phone = validate::phone("phone", request.phone)?;
    let building = validate::text("building", request.building, 16)?;
    let unit = validate::text("unit", request.unit, 16)?;
    let room = validate::text("room", request.room, 16)?;
    let community = policy::find_community(db, request.community_id).await?;

    let txn = begin_write(db).await?;
    let household = find_or_create_household(&txn, community.id, &building, &unit, &room).await?;
    let now = Utc::now();
    let existing = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community.id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(&txn)
        .await?;
    let (saved, before) = match existing {
        Some(found)
            if matches!(
                found.status,
                MembershipStatus::Pending | MembershipStatus::Active
            ) =>
        {
            return Err(if found.status == MembershipStatus::Pending {
                ServiceError::conflict(
                    Reason::MembershipPending,
                    "您已提交入社申请，请等待社区审核",
                )
            } else {
                ServiceError::conflict(Reason::AlreadyMember, "您已是该社区成员")
            });
        }
        Some(found) => {
            let before = status_json(&found);
            let sealed = keys.seal(SealedColumn::MembershipPhone, found.id, &phone)?;
            let mut active: membership::ActiveModel = found.into();
            active.household_id = Set(Some(household.id));
            active.real_name = Set(real_name);
            active.phone_sealed = Set(sealed);
            active.roles = Set(0);
            active.status = Set(MembershipStatus::Pending);
            active.status_reason = Set(None);
            active.updated_at = Set(now);
            (active.update(&txn).await?, Some(before))
        }
        None => {
            let id = Uuid::now_v7();
            let created = membership::ActiveModel {
                id: Set(id),
                community_id: Set(community.id),
                user_id: Set(user_id),
                household_id: Set(Some(household.id)),
                real_name: Set(real_name),
                phone_sealed: Set(keys.seal(SealedColumn::MembershipPhone, id, &phone)?),
                roles: Set(0),
                status: Set(MembershipStatus::Pending),
                status_reason: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            (created, None)
        }
    };
    audit::record(
        &txn,
        AuditEntry::new("membership", saved.id, "join")
            .community(community.id)
            .actor(Some(user_id))
            .change(before, Some(status_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(MembershipView {
        membership: saved,
        reveal_personal: true,
    })
}

/// The household at an address, made when it is the first. Two people
/// joining the same room at once share one household: the insert yields to
/// the unique address index (`ON CONFLICT DO NOTHING`) instead of failing
/// the second join, and the row is then read back.
async fn find_or_create_household<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    building: &str,
    unit: &str,
    room: &str,
) -> ServiceResult<household::Model> {
    let find = || {
        household::Entity::find()
            .filter(household::Column::CommunityId.eq(community_id))
            .filter(household::Column::Building.eq(building))
            .filter(household::Column::Unit.eq(unit))
            .filter(household::Column::Room.eq(room))
            .one(db)
    };
    if let Some(found) = find().await? {
        return Ok(found);
    }
    household::Entity::insert(household::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        building: Set(building.to_string()),
        unit: Set(unit.to_string()),
        room: Set(room.to_string()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            household::Column::CommunityId,
            household::Column::Building,
            household::Column::Unit,
            household::Column::Room,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    find().await?.ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!(
            "the household of an address vanished after it was made"
        ))
    })
}

/// Staff (or an officer above) approve a PENDING request with its roles.
/// Giving STAFF needs an officer.
pub async fn approve_membership(
    db: &DatabaseConnection,
    actor: &Actor,
    membership_id: Uuid,
    roles: &[Role],
) -> ServiceResult<MembershipView> {
    let bits = roles_bits(roles)?;
    let (found, standing) = load_for_management(db, actor, membership_id).await?;
    if roles.contains(&Role::Staff) && !standing.allows(Permission::AppointStaff) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != MembershipStatus::Pending {
        return Err(ServiceError::invalid_state(
            Reason::MembershipStatusWrong,
            "只能审核待审核的入社申请",
        ));
    }
    transition(
        db,
        &standing,
        found,
        MembershipStatus::Pending,
        Change {
            status: MembershipStatus::Active,
            roles: bits,
            reason: None,
        },
        "approve",
    )
    .await
}

pub async fn reject_membership(
    db: &DatabaseConnection,
    actor: &Actor,
    membership_id: Uuid,
    reason: &str,
) -> ServiceResult<MembershipView> {
    let reason = validate::text("reason", reason, 500)?;
    let (found, standing) = load_for_management(db, actor, membership_id).await?;
    if found.status != MembershipStatus::Pending {
        return Err(ServiceError::invalid_state(
            Reason::MembershipStatusWrong,
            "只能驳回待审核的入社申请",
        ));
    }
    transition(
        db,
        &standing,
        found,
        MembershipStatus::Pending,
        Change {
            status: MembershipStatus::Rejected,
            roles: 0,
            reason: Some(reason),
        },
        "reject",
    )
    .await
}

/// Changes an ACTIVE member's roles. Adding or removing STAFF needs an officer.
pub async fn set_member_roles(
    db: &DatabaseConnection,
    actor: &Actor,
    membership_id: Uuid,
    roles: &[Role],
) -> ServiceResult<MembershipView> {
    let bits = roles_bits(roles)?;
    let (found, standing) = load_for_management(db, actor, membership_id).await?;
    let staff_changes = (found.roles & Role::Staff.bit()) != (bits & Role::Staff.bit());
    if staff_changes && !standing.allows(Permission::AppointStaff) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != MembershipStatus::Active {
        return Err(ServiceError::invalid_state(
            Reason::MembershipStatusWrong,
            "只能调整在册成员的角色",
        ));
    }
    transition(
        db,
        &standing,
        found,
        MembershipStatus::Active,
        Change {
            status: MembershipStatus::Active,
            roles: bits,
            reason: None,
        },
        "set_roles",
    )
    .await
}

/// Staff remove an ACTIVE member (a staff member needs an officer).
pub async fn remove_member(
    db: &DatabaseConnection,
    actor: &Actor,
    membership_id: Uuid,
    reason: &str,
) -> ServiceResult<MembershipView> {
    let reason = validate::text("reason", reason, 500)?;
    let (found, standing) = load_for_management(db, actor, membership_id).await?;
    if found.roles & Role::Staff.bit() != 0 && !standing.allows(Permission::AppointStaff) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != MembershipStatus::Active {
        return Err(ServiceError::invalid_state(
            Reason::MembershipStatusWrong,
            "只能移除在册成员",
        ));
    }
    transition(
        db,
        &standing,
        found,
        MembershipStatus::Active,
        Change {
            status: MembershipStatus::Left,
            roles: 0,
            reason: Some(reason),
        },
        "remove",
    )
    .await
}

/// The caller leaves a community, or withdraws a request to join.
pub async fn leave_community(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<MembershipView> {
    let user_id = actor.user_id()?;
    let found = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("成员身份"))?;
    let from = found.status;
    if !matches!(from, MembershipStatus::Pending | MembershipStatus::Active) {
        return Err(ServiceError::invalid_state(
            Reason::NotAMember,
            "您已不在该社区",
        ));
    }
    let txn = begin_write(db).await?;
    let saved = apply_change(
        &txn,
        &found,
        from,
        Change {
            status: MembershipStatus::Left,
            roles: 0,
            reason: None,
        },
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("membership", saved.id, "leave")
            .community(community_id)
            .actor(Some(user_id))
            .change(Some(status_json(&found)), Some(status_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(MembershipView {
        membership: saved,
        reveal_personal: true,
    })
}

pub async fn my_memberships(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> ServiceResult<Vec<MembershipView>> {
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|membership| MembershipView {
            membership,
            reveal_personal: true,
        })
        .collect())
}

#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    pub status: Option<MembershipStatus>,
    pub role: Option<Role>,
    pub building: Option<String>,
}

/// The members of a community, oldest request first (a queue for staff).
pub async fn list_members(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    filter: MemberFilter,
    page: PageRequest,
) -> ServiceResult<Page<MembershipView>> {
    let standing = policy::standing(db, actor, community_id).await?;
    let reveal = standing.allows(Permission::SeePersonalDetails);
    standing.require(Permission::ListMembers)?;

    let mut condition = Condition::all().add(membership::Column::CommunityId.eq(community_id));
    if let Some(status) = filter.status {
        condition = condition.add(membership::Column::Status.eq(status));
    }
    if let Some(role) = filter.role {
        condition = condition.add(
            Expr::col(membership::Column::Roles)
                .bit_and(role.bit())
                .ne(0),
        );
    }
    if let Some(building) = filter.building {
        let building = validate::text("building", &building, 16)?;
        condition = condition.add(
            membership::Column::HouseholdId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(household::Column::Id)
                    .from(household::Entity)
                    .and_where(household::Column::CommunityId.eq(community_id))
                    .and_where(household::Column::Building.eq(building))
                    .to_owned(),
            ),
        );
    }
    let rows = paginate(
        db,
        membership::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?;
    let viewer = actor.user_id().ok();
    Ok(rows.map(|membership| MembershipView {
        reveal_personal: reveal || Some(membership.user_id) == viewer,
        membership,
    }))
}

fn roles_bits(roles: &[Role]) -> ServiceResult<i32> {
    if roles.is_empty() {
        return Err(ServiceError::bad_input(
            Reason::FieldRequired,
            "roles",
            "请至少选择一个角色",
        ));
    }
    Ok(Role::to_bits(roles))
}

/// Loads a membership and the caller's standing in its community, requiring
/// ManageMembers. A caller with no standing there learns nothing of it.
async fn load_for_management(
    db: &DatabaseConnection,
    actor: &Actor,
    membership_id: Uuid,
) -> ServiceResult<(membership::Model, policy::Standing)> {
    actor.user_id()?;
    let found = membership::Entity::find_by_id(membership_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("成员申请"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ManageMembers) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    Ok((found, standing))
}

struct Change {
    status: MembershipStatus,
    roles: i32,
    reason: Option<String>,
}

async fn transition(
    db: &DatabaseConnection,
    standing: &policy::Standing,
    found: membership::Model,
    from: MembershipStatus,
    change: Change,
    action: &'static str,
) -> ServiceResult<MembershipView> {
    let txn = begin_write(db).await?;
    let saved = apply_change(&txn, &found, from, change).await?;
    audit::record(
        &txn,
        AuditEntry::new("membership", saved.id, action)
            .community(saved.community_id)
            .actor(Some(standing.user_id))
            .change(Some(status_json(&found)), Some(status_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(MembershipView {
        reveal_personal: standing.allows(Permission::SeePersonalDetails)
            || saved.user_id == standing.user_id,
        membership: saved,
    })
}

/// Writes a status change only if the row is still in `from`, so two staff
/// deciding at once cannot both win.
async fn apply_change<C: ConnectionTrait>(
    db: &C,
    found: &membership::Model,
    from: MembershipStatus,
    change: Change,
) -> ServiceResult<membership::Model> {
    let updated = membership::Entity::update_many()
        .col_expr(membership::Column::Status, Expr::value(change.status))
        .col_expr(membership::Column::Roles, Expr::value(change.roles))
        .col_expr(membership::Column::StatusReason, Expr::value(change.reason))
        .col_expr(membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(membership::Column::Id.eq(found.id))
        .filter(membership::Column::Status.eq(from))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "该申请已被处理，请刷新后重试",
        ));
    }
    membership::Entity::find_by_id(found.id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("成员申请"))
}

pub(crate) fn status_json(m: &membership::Model) -> serde_json::Value {
    json!({"status": m.status.to_value(), "roles": m.roles, "reason": m.status_reason})
}

/// A user's memberships as `actor` may see them: all of them for the user
/// themself, none for anyone else.
pub async fn memberships_visible_to(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
) -> ServiceResult<Vec<MembershipView>> {
    if actor.user_id().ok() == Some(user_id) {
        my_memberships(db, user_id).await
    } else {
        Ok(Vec::new())
    }
}

/// A user's region roles as `actor` may see them (the user themself only).
pub async fn officer_roles_visible_to(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
) -> ServiceResult<Vec<region_officer::Model>> {
    if actor.user_id().ok() == Some(user_id) {
        officer_roles_of(db, user_id).await
    } else {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("李"), "李*");
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }
}
