//! Who may do what: the one place that decides. Every service asks here
//! before it reads or writes a community's records; no resolver checks roles.
//!
//! A caller is allowed by a role of their ACTIVE membership in the record's
//! community, by a region role (officer) on the community's street or district,
//! or by being the platform administrator, as the table in [`rule`] says.

use entity::org::membership::MembershipStatus;
use entity::org::region::RegionKind;
use entity::org::region_officer::OfficerRole;
use entity::org::{membership, region, region_officer, user};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable,
    PaginatorTrait, QueryFilter, QuerySelect, Value,
};
use uuid::Uuid;

use crate::error::{Reason, ServiceError, ServiceResult};

/// A community role. Stored as a bit set on the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Resident,
    Volunteer,
    PartyMember,
    CouncilMember,
    GridWorker,
    Staff,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Resident,
        Role::Volunteer,
        Role::PartyMember,
        Role::CouncilMember,
        Role::GridWorker,
        Role::Staff,
    ];

    pub fn bit(self) -> i32 {
        match self {
            Role::Resident => 1,
            Role::Volunteer => 1 << 1,
            Role::PartyMember => 1 << 2,
            Role::CouncilMember => 1 << 3,
            Role::GridWorker => 1 << 4,
            Role::Staff => 1 << 5,
        }
    }

    pub fn to_bits(roles: &[Role]) -> i32 {
        roles.iter().fold(0, |bits, role| bits | role.bit())
    }

    pub fn from_bits(bits: i32) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|role| bits & role.bit() != 0)
            .collect()
    }
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Anonymous,
    User(Uuid),
}

impl Actor {
    pub fn user_id(&self) -> ServiceResult<Uuid> {
        match self {
            Actor::User(id) => Ok(*id),
            Actor::Anonymous => Err(ServiceError::Unauthenticated(
                Reason::LoginRequired,
                "请先登录",
            )),
        }
    }
}

/// Something done to, or seen of, one community's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List the community's members (names and phones masked).
    ListMembers,
    /// See members' real names and phone numbers unmasked.
    SeePersonalDetails,
    /// Approve or reject requests to join, change roles, remove members.
    ManageMembers,
    /// Give or take away the STAFF role.
    AppointStaff,
    /// Read the community's proposals, meetings, ballots and published results.
    ViewConsultation,
    /// Submit, second, comment on, report and rate proposals.
    TakePartInConsultation,
    /// Run consultation: councils, proposal review, meetings, ballots, paper
    /// votes, moderation, consultation settings.
    ManageConsultation,
    /// Time credits: hold an account, give points, redeem, see activities,
    /// the catalogue and the leaderboard (any active member).
    UseCredits,
    /// Sign up for activities, keep a volunteer profile (VOLUNTEER).
    Volunteer,
    /// Create activities and teams, show check-in codes, record attendance.
    ManageVolunteering,
    /// Confirm volunteers' minutes, which posts their points.
    ConfirmService,
    /// Adjust and reverse postings, run expiry, set the community's rules.
    ManageLedger,
    /// Create catalogue items and hand them out.
    ManageCatalog,
    /// See any account's statement and every volunteer's record.
    ViewLedger,
    // ---------- three lists ----------
    /// See the community's resources, needs (without personal details) and projects.
    ViewLists,
    /// Offer a resource of one's own, submit a need for oneself.
    OfferAndRequest,
    /// Enter a resource for someone else, withdraw any resource.
    ManageResources,
    /// Register a need on a resident's behalf (onBehalfOf).
    SubmitNeedForOthers,
    /// See a need's description and who it is for.
    SeeNeedDetails,
    /// Accept, reject, match and close needs; see match suggestions.
    ManageNeeds,
    /// See match suggestions (without confirming them).
    SuggestMatches,
    /// Create, submit, select (点选), start, complete projects; close their evaluation.
    ManageProjects,
    /// Score a submitted project into the street's library or reject it; remove it (出库).
    ReviewProject,
    /// Rate a completed project delivered in the community.
    RateProject,
    /// See the four indices of the community.
    ViewIndices,
    /// Register organisations and their representatives.
    ManageOrganisations,
    // ---------- covenant ----------
    /// Draft and edit covenant versions, open comment, reply to comments,
    /// see which households have not pledged.
    ManageCovenant,
    /// Comment on a covenant version in comment, and pledge to keep the one in force.
    ParticipateCovenant,
    /// Read the covenant's history (versions past and in progress, comments).
    ReadCovenantHistory,
    /// File (备案), rate and award covenants: street and district officers.
    OverseeCovenant,
}

/// Who holds a permission: community roles (of an ACTIVE membership), officer
/// roles on the community's street or district, and the platform administrator
/// (always).
struct Rule {
    community_roles: &'static [Role],
    officer_roles: &'static [OfficerRole],
}

const OFFICERS: &[OfficerRole] = &[OfficerRole::StreetAdmin, OfficerRole::DistrictAdmin];
const OFFICERS_AND_OBSERVERS: &[OfficerRole] = &[
    OfficerRole::StreetAdmin,
    OfficerRole::DistrictAdmin,
    OfficerRole::Observer,
];

fn rule(permission: Permission) -> Rule {
    match permission {
        Permission::ListMembers => Rule {
            community_roles: &[Role::Staff, Role::GridWorker],
            officer_roles: OFFICERS,
        },
        Permission::SeePersonalDetails => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
        Permission::ManageMembers => Rule {
            community_roles: &[Role::Staff],
            officer_roles: OFFICERS,
        },
        Permission::AppointStaff => Rule {
            community_roles: &[],
            officer_roles: OFFICERS,
        },
        Permission::ViewLists => Rule {
            community_roles: &Role::ALL,
            officer_roles: OFFICERS_AND_OBSERVERS,
        },
        Permission::OfferAndRequest => Rule {
            community_roles: &Role::ALL,
            officer_roles: &[],
        },
        Permission::ManageResources => Rule {
            community_roles: &[Role::Staff],
            officer_roles: OFFICERS,
        },
        Permission::SubmitNeedForOthers => Rule {
            community_roles: &[Role::Staff, Role::GridWorker],
            officer_roles: &[],
        },
        // DESIGN §3: personal details of a need are for the requester, the
        // community's staff and its grid workers only (not officers above).
        Permission::SeeNeedDetails => Rule {
            community_roles: &[Role::Staff, Role::GridWorker],
            officer_roles: &[],
        },
        Permission::ManageNeeds => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
        Permission::SuggestMatches => Rule {
            community_roles: &[Role::Staff, Role::GridWorker],
            officer_roles: OFFICERS,
        },
        Permission::ManageProjects => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
        Permission::ReviewProject => Rule {
            community_roles: &[],
            officer_roles: OFFICERS,
        },
        Permission::RateProject => Rule {
            community_roles: &[Role::Resident],
            officer_roles: &[OfficerRole::Observer],
        },
        Permission::ViewIndices => Rule {
            community_roles: &[Role::Staff],
            officer_roles: OFFICERS,
        },
        Permission::ManageOrganisations => Rule {
            community_roles: &[Role::Staff],
            officer_roles: OFFICERS,
        },
        Permission::ManageCovenant => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
        Permission::ParticipateCovenant => Rule {
            community_roles: &[Role::Resident],
            officer_roles: &[],
        },
        Permission::ReadCovenantHistory => Rule {
            community_roles: &Role::ALL,
            officer_roles: OFFICERS_AND_OBSERVERS,
        },
        Permission::OverseeCovenant => Rule {
            community_roles: &[],
            officer_roles: OFFICERS,
        },
        Permission::UseCredits => Rule {
            community_roles: &Role::ALL,
            officer_roles: OFFICERS,
        },
        Permission::Volunteer => Rule {
            community_roles: &[Role::Volunteer],
            officer_roles: &[],
        },
        Permission::ManageVolunteering
        | Permission::ConfirmService
        | Permission::ManageLedger
        | Permission::ManageCatalog => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
        Permission::ViewLedger => Rule {
            community_roles: &[Role::Staff],
            officer_roles: OFFICERS,
        },
        Permission::ViewConsultation => Rule {
            community_roles: &Role::ALL,
            officer_roles: OFFICERS,
        },
        Permission::TakePartInConsultation => Rule {
            community_roles: &[Role::Resident, Role::CouncilMember],
            officer_roles: &[],
        },
        Permission::ManageConsultation => Rule {
            community_roles: &[Role::Staff],
            officer_roles: &[],
        },
    }
}

/// The caller's standing in one community, as found by [`authorize`].
#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: Uuid,
    pub community: region::Model,
    /// Roles of the caller's ACTIVE membership here (empty when none).
    pub roles: Vec<Role>,
}

/// The caller's standing in one community, whatever it is.
pub async fn standing<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Standing> {
    let user_id = actor.user_id()?;
    // Asked on nearly every request, so one statement: the community, the
    // caller's ACTIVE roles in it, the officer roles they hold on it or above
    // it, and whether the user (still) exists and is a platform admin.
    let officer_held = |role: OfficerRole| {
        (
            format!(
                "EXISTS (SELECT 1 FROM region_officer o WHERE o.user_id = ? AND o.role = ? \
                 AND o.region_id IN (r.id, r.district_id, r.street_id)) AS {}",
                officer_column(role)
            ),
            [Value::from(user_id), Value::from(role.to_value())],
        )
    };
    let officers: Vec<_> = OfficerRole::iter().map(officer_held).collect();
    let sql = format!(
        "SELECT r.id, r.name, r.kind, r.parent_id, r.district_id, r.street_id, r.created_at, \
         (SELECT m.roles FROM membership m WHERE m.user_id = ? AND m.community_id = r.id \
          AND m.status = ?) AS member_roles, \
         (SELECT u.is_platform_admin FROM users u WHERE u.id = ?) AS is_admin, {} \
         FROM region r WHERE r.id = ? AND r.kind = ?",
        officers
            .iter()
            .map(|(column, _)| column.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut values = vec![
        Value::from(user_id),
        Value::from(MembershipStatus::Active.to_value()),
        Value::from(user_id),
    ];
    values.extend(officers.into_iter().flat_map(|(_, values)| values));
    values.push(Value::from(community_id));
    values.push(Value::from(RegionKind::Community.to_value()));
    let row = db
        .query_one_raw(crate::db::statement(
            db.get_database_backend(),
            &sql,
            values,
        ))
        .await?
        .ok_or(ServiceError::NotFound("社区"))?;
    let community = region::Model::from_query_result(&row, "")?;
    let is_admin: Option<bool> = row.try_get("", "is_admin")?;
    // A token for a user who no longer exists.
    let is_admin = is_admin.ok_or_else(ServiceError::session_invalid)?;
    let member_roles: Option<i32> = row.try_get("", "member_roles")?;
    let mut officer_roles = Vec::new();
    for role in OfficerRole::iter() {
        if row.try_get::<bool>("", officer_column(role))? {
            officer_roles.push(role);
        }
    }
    Ok(Standing {
        user_id,
        community,
        roles: member_roles.map(Role::from_bits).unwrap_or_default(),
        officer_roles,
        is_admin,
    })
}

fn officer_column(role: OfficerRole) -> &'static str {
    match role {
        OfficerRole::DistrictAdmin => "is_district_admin",
        OfficerRole::StreetAdmin => "is_street_admin",
        OfficerRole::Observer => "is_observer",
    }
}

/// Everything the policy knows of a caller in one community.
#[derive(Debug, Clone)]
pub struct Standing {
    pub user_id: Uuid,
    pub community: region::Model,
    pub roles: Vec<Role>,
    /// Officer roles held on the community's street or district (and
    /// observers appointed on the community itself).
    pub officer_roles: Vec<OfficerRole>,
    pub is_admin: bool,
}

impl Standing {
    pub fn allows(&self, permission: Permission) -> bool {
        let rule = rule(permission);
        self.is_admin
            || self.roles.iter().any(|r| rule.community_roles.contains(r))
            || self
                .officer_roles
                .iter()
                .any(|r| rule.officer_roles.contains(r))
    }

    pub fn is_member(&self) -> bool {
        !self.roles.is_empty()
    }

    pub fn require(self, permission: Permission) -> ServiceResult<Grant> {
        if self.allows(permission) {
            Ok(Grant {
                user_id: self.user_id,
                community: self.community,
                roles: self.roles,
            })
        } else {
            Err(ServiceError::Forbidden(Reason::NotPermitted))
        }
    }
}

/// Checks that the caller holds `permission` in the community.
pub async fn authorize<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    community_id: Uuid,
    permission: Permission,
) -> ServiceResult<Grant> {
    standing(db, actor, community_id).await?.require(permission)
}

/// What is done to a region itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionPermission {
    /// Create a child region of the given kind under this one.
    CreateChild(RegionKind),
    /// Appoint or revoke an officer with this role on this region.
    AppointOfficer(OfficerRole),
    /// See the four indices of every community below this region side by side.
    ViewIndices,
    /// Register organisations with this street (and their representatives).
    ManageOrganisations,
    /// See the covenants of every community below this region side by side.
    ViewCovenants,
}

/// Creating a district needs the platform administrator; anything else is
/// allowed to the administrator and to an officer who administers a region
/// strictly above the target, and observers may also be appointed by an
/// administrator of the region itself.
pub async fn authorize_region<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    target: Option<&region::Model>,
    permission: RegionPermission,
) -> ServiceResult<Uuid> {
    let user_id = actor.user_id()?;
    if is_platform_admin(db, user_id).await? {
        return Ok(user_id);
    }
    let Some(target) = target else {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    };
    let held = region_officer::Entity::find()
        .filter(region_officer::Column::UserId.eq(user_id))
        .filter(region_officer::Column::RegionId.is_in(lineage(target)))
        .all(db)
        .await?;
    let administers = |region_id: Uuid| {
        held.iter().any(|o| {
            o.region_id == region_id
                && matches!(
                    o.role,
                    OfficerRole::DistrictAdmin | OfficerRole::StreetAdmin
                )
        })
    };
    let above_target = lineage(target).into_iter().filter(|id| *id != target.id);
    let allowed = match permission {
        // Creating a child of `target`: administering the target or above is enough.
        RegionPermission::CreateChild(_) => lineage(target).into_iter().any(administers),
        RegionPermission::AppointOfficer(OfficerRole::Observer) => {
            lineage(target).into_iter().any(administers)
        }
        RegionPermission::AppointOfficer(_) => above_target.into_iter().any(administers),
        RegionPermission::ViewIndices
        | RegionPermission::ManageOrganisations
        | RegionPermission::ViewCovenants => lineage(target).into_iter().any(administers),
    };
    if allowed {
        Ok(user_id)
    } else {
        Err(ServiceError::Forbidden(Reason::NotPermitted))
    }
}

/// Who may see a street's project library (项目库): the platform
/// administrator, any officer or observer on the street or its district, and
/// the staff of the street's communities (who select from it).
pub async fn authorize_street_library<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    street: &region::Model,
) -> ServiceResult<Uuid> {
    let user_id = actor.user_id()?;
    if street.kind != RegionKind::Street {
        return Err(ServiceError::NotFound("街道"));
    }
    if is_platform_admin(db, user_id).await? {
        return Ok(user_id);
    }
    let officer = region_officer::Entity::find()
        .filter(region_officer::Column::UserId.eq(user_id))
        .filter(region_officer::Column::RegionId.is_in(lineage(street)))
        .count(db)
        .await?;
    if officer > 0 {
        return Ok(user_id);
    }
    let staff_bits: Vec<i32> = membership::Entity::find()
        .select_only()
        .column(membership::Column::Roles)
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .filter(
            membership::Column::CommunityId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(region::Column::Id)
                    .from(region::Entity)
                    .and_where(region::Column::StreetId.eq(street.id))
                    .and_where(region::Column::Kind.eq(RegionKind::Community))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    if staff_bits.iter().any(|bits| bits & Role::Staff.bit() != 0) {
        Ok(user_id)
    } else {
        Err(ServiceError::Forbidden(Reason::NotPermitted))
    }
}

/// Whether the user is a representative of the organisation (acts for it).
pub async fn represents<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    organisation_id: Uuid,
) -> ServiceResult<bool> {
    use entity::lists::organisation_representative as rep;
    let found = rep::Entity::find()
        .filter(rep::Column::UserId.eq(user_id))
        .filter(rep::Column::OrganisationId.eq(organisation_id))
        .count(db)
        .await?;
    Ok(found > 0)
}

/// The region and the regions above it.
fn lineage(region: &region::Model) -> Vec<Uuid> {
    let mut ids = vec![region.id, region.district_id];
    if let Some(street) = region.street_id {
        ids.push(street);
    }
    ids.sort();
    ids.dedup();
    ids
}

/// A person's own data: only they may export it (`myData`) or erase their
/// account (`deleteMyAccount`). Nobody does either for someone else — not
/// the community's staff, an officer or the platform administrator — so a
/// request can never name another person: the caller is the subject.
pub fn authorize_own_personal_data(actor: &Actor) -> ServiceResult<Uuid> {
    actor.user_id()
}

pub async fn find_community<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
) -> ServiceResult<region::Model> {
    region::Entity::find_by_id(community_id)
        .filter(region::Column::Kind.eq(RegionKind::Community))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("社区"))
}

async fn is_platform_admin<C: ConnectionTrait>(db: &C, user_id: Uuid) -> ServiceResult<bool> {
    let flag: Option<bool> = user::Entity::find_by_id(user_id)
        .select_only()
        .column(user::Column::IsPlatformAdmin)
        .into_tuple()
        .one(db)
        .await?;
    match flag {
        Some(flag) => Ok(flag),
        // A token for a user who no longer exists.
        None => Err(ServiceError::session_invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_bits() {
        let roles = vec![Role::Resident, Role::CouncilMember, Role::Staff];
        assert_eq!(Role::from_bits(Role::to_bits(&roles)), roles);
        assert_eq!(Role::from_bits(0), Vec::<Role>::new());
    }

    fn standing(roles: Vec<Role>, officer_roles: Vec<OfficerRole>, is_admin: bool) -> Standing {
        let id = Uuid::now_v7();
        Standing {
            user_id: id,
            community: region::Model {
                id,
                name: "c".into(),
                kind: RegionKind::Community,
                parent_id: None,
                district_id: id,
                street_id: None,
                created_at: chrono::Utc::now(),
            },
            roles,
            officer_roles,
            is_admin,
        }
    }

    #[test]
    fn rule_table() {
        let resident = standing(vec![Role::Resident], vec![], false);
        let staff = standing(vec![Role::Staff], vec![], false);
        let grid = standing(vec![Role::GridWorker], vec![], false);
        let street = standing(vec![], vec![OfficerRole::StreetAdmin], false);
        let observer = standing(vec![], vec![OfficerRole::Observer], false);
        let admin = standing(vec![], vec![], true);
        assert!(!resident.allows(Permission::ListMembers));
        assert!(grid.allows(Permission::ListMembers));
        assert!(!grid.allows(Permission::ManageMembers));
        assert!(staff.allows(Permission::ManageMembers));
        assert!(!staff.allows(Permission::AppointStaff));
        assert!(street.allows(Permission::AppointStaff));
        assert!(!street.allows(Permission::SeePersonalDetails));
        assert!(!observer.allows(Permission::ListMembers));
        assert!(admin.allows(Permission::SeePersonalDetails));
        // Three lists.
        assert!(resident.allows(Permission::ViewLists));
        assert!(observer.allows(Permission::ViewLists));
        assert!(grid.allows(Permission::SeeNeedDetails));
        assert!(!street.allows(Permission::SeeNeedDetails));
        assert!(!resident.allows(Permission::SeeNeedDetails));
        assert!(!grid.allows(Permission::ManageNeeds));
        assert!(street.allows(Permission::ReviewProject));
        assert!(!staff.allows(Permission::ReviewProject));
        assert!(observer.allows(Permission::RateProject));
        assert!(!street.allows(Permission::RateProject));
        assert!(!resident.allows(Permission::ViewIndices));
    }
}
