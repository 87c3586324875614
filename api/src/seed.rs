//! Demo data for newcomers (`api seed-demo`), made through the same services
//! that serve the API.

use chrono::Utc;
use entity::org::region::{self, RegionKind};
use entity::org::region_officer::{self, OfficerRole};
use entity::org::user;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::crypto::DataKeys;
use crate::policy::{Actor, Role};
use crate::service::auth::create_password_user;
use crate::service::org::{self, AppointOfficer, JoinRequest};

pub const DEMO_PASSWORD: &str = "linli-demo-2026";
pub const DEMO_DISTRICT: &str = "示范区";

/// One demo person: login phone, name, community roles (none: an officer).
struct DemoPerson {
    phone: &'static str,
    name: &'static str,
    roles: &'static [Role],
    address: (&'static str, &'static str, &'static str),
}

const PEOPLE: &[DemoPerson] = &[
    DemoPerson {
        phone: "13800000002",
        name: "李社工",
        roles: &[Role::Staff, Role::Resident],
        address: ("1栋", "1单元", "101"),
    },
    DemoPerson {
        phone: "13800000003",
        name: "赵议员",
        roles: &[Role::Resident, Role::CouncilMember],
        address: ("1栋", "1单元", "102"),
    },
    DemoPerson {
        phone: "13800000004",
        name: "张居民",
        roles: &[Role::Resident],
        address: ("2栋", "1单元", "201"),
    },
    DemoPerson {
        phone: "13800000005",
        name: "陈志愿",
        roles: &[Role::Resident, Role::Volunteer, Role::PartyMember],
        address: ("2栋", "2单元", "202"),
    },
    DemoPerson {
        phone: "13800000006",
        name: "刘网格",
        roles: &[Role::GridWorker],
        address: ("3栋", "1单元", "301"),
    },
];

fn fail(err: crate::error::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{} ({:?})", err.message(), err.code())
}

pub async fn seed_demo(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<String> {
    let already = region::Entity::find()
        .filter(region::Column::Name.eq(DEMO_DISTRICT))
        .filter(region::Column::Kind.eq(RegionKind::District))
        .one(db)
        .await?;
    if already.is_some() {
        return Ok("demo data is already there".into());
    }
    let admin = match user::Entity::find()
        .filter(user::Column::LoginPhoneBlindIndex.eq(keys.phone_index("13800000000")))
        .one(db)
        .await?
    {
        Some(admin) => admin,
        None => create_password_user(db, keys, "13800000000", "平台管理员", DEMO_PASSWORD, true)
            .await
            .map_err(fail)?,
    };
    let admin_actor = Actor::User(admin.id);
    let district = org::create_region(db, &admin_actor, DEMO_DISTRICT, RegionKind::District, None)
        .await
        .map_err(fail)?;
    let street = org::create_region(
        db,
        &admin_actor,
        "幸福街道",
        RegionKind::Street,
        Some(district.id),
    )
    .await
    .map_err(fail)?;
    let community = org::create_region(
        db,
        &admin_actor,
        "和谐社区",
        RegionKind::Community,
        Some(street.id),
    )
    .await
    .map_err(fail)?;
    let street_officer = org::appoint_officer(
        db,
        keys,
        &admin_actor,
        AppointOfficer {
            region_id: street.id,
            phone: "13800000001",
            display_name: "王街道",
            initial_password: Some(DEMO_PASSWORD),
            role: OfficerRole::StreetAdmin,
        },
    )
    .await
    .map_err(fail)?;
    let street_actor = Actor::User(street_officer.user_id);
    for person in PEOPLE {
        let person_user =
            create_password_user(db, keys, person.phone, person.name, DEMO_PASSWORD, false)
                .await
                .map_err(fail)?;
        let (building, unit, room) = person.address;
        let joined = org::join_community(
            db,
            keys,
            &Actor::User(person_user.id),
            JoinRequest {
                community_id: community.id,
                real_name: person.name,
                phone: person.phone,
                building,
                unit,
                room,
            },
        )
        .await
        .map_err(fail)?;
        org::approve_membership(db, &street_actor, joined.membership.id, person.roles)
            .await
            .map_err(fail)?;
    }
    Ok(format!(
        "demo seeded: district {} / street {} / community {} (id {}); every demo login uses the password {DEMO_PASSWORD}",
        district.name, street.name, community.name, community.id
    ))
}

/// Appoints an officer with no user acting (the CLI).
pub async fn appoint_as_system(
    db: &DatabaseConnection,
    region_id: Uuid,
    user_id: Uuid,
    role: OfficerRole,
) -> anyhow::Result<()> {
    let region = region::Entity::find_by_id(region_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no region {region_id}"))?;
    if !org::officer_role_fits(role, region.kind) {
        anyhow::bail!("that role does not fit a region of this kind");
    }
    let appointed = region_officer::ActiveModel {
        id: Set(Uuid::now_v7()),
        region_id: Set(region_id),
        user_id: Set(user_id),
        role: Set(role),
        appointed_by: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        AuditEntry::new("region_officer", appointed.id, "appoint"),
    )
    .await?;
    Ok(())
}
