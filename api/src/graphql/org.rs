//! Places, people and sessions: regions, communities, users, memberships,
//! officers, and logging in.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::org::{household, region, region_officer, user};

use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id, to_id};
use crate::graphql::loaders::load_error;
use crate::graphql::page::{LinliConnection, connection, page_request_for};
use crate::policy;
use crate::service::auth::{self as auth_service, AuthSession};
use crate::service::org::{
    self as org_service, AppointOfficer, JoinRequest, MemberFilter, MembershipView,
};

// ---------- enums ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::org::region::RegionKind")]
pub enum RegionKind {
    District,
    Street,
    Community,
}

/// Community roles; a member may hold several.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::policy::Role")]
pub enum Role {
    /// 居民: proposes, seconds, comments, votes where eligible, pledges, submits needs.
    Resident,
    /// 志愿者: signs up for activities, earns and spends points.
    Volunteer,
    /// 党员: tags the resources and service given.
    PartyMember,
    /// 议事会成员: votes in council votes.
    CouncilMember,
    /// 网格员: registers needs for residents, checks households.
    GridWorker,
    /// 社区工作者: runs the community.
    Staff,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::org::membership::MembershipStatus")]
pub enum MembershipStatus {
    /// Asked to join; staff have not decided.
    Pending,
    Active,
    /// Staff refused the request (the reason is kept).
    Rejected,
    Left,
}

/// Roles over a region and everything below it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::org::region_officer::OfficerRole")]
pub enum RegionRole {
    DistrictAdmin,
    StreetAdmin,
    /// 民生观察员: gives feedback on projects.
    Observer,
}

// ---------- types ----------

/// A user. `viewer` is who looks at it: the caller, except in a login
/// answer, where the user who just logged in looks at themself.
pub struct User {
    model: user::Model,
    viewer: Option<policy::Actor>,
}

impl User {
    pub fn new(model: user::Model) -> Self {
        User {
            model,
            viewer: None,
        }
    }

    fn viewer(&self, ctx: &Context<'_>) -> policy::Actor {
        self.viewer.unwrap_or_else(|| ctx.actor())
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    async fn display_name(&self) -> &str {
        &self.model.display_name
    }

    /// The user's memberships. Only the user themself sees them; for anyone
    /// else the list is empty.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let state = ctx.state();
        let views =
            org_service::memberships_visible_to(&state.db, &self.viewer(ctx), self.model.id)
                .await?;
        Ok(views.into_iter().map(Membership).collect())
    }

    /// Region roles held (only the user themself sees them).
    async fn region_roles(&self, ctx: &Context<'_>) -> Result<Vec<RegionOfficer>> {
        let state = ctx.state();
        let rows =
            org_service::officer_roles_visible_to(&state.db, &self.viewer(ctx), self.model.id)
                .await?;
        Ok(rows.into_iter().map(RegionOfficer).collect())
    }

    /// Whether this is the platform administrator, who creates districts.
    async fn is_platform_admin(&self) -> bool {
        self.model.is_platform_admin
    }

    /// Whether the user can log in with phone + password.
    async fn has_password_login(&self) -> bool {
        self.model.password_hash.is_some()
    }
}

pub struct Membership(pub MembershipView);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        to_id(self.0.membership.id)
    }

    async fn community(&self, ctx: &Context<'_>) -> Result<Community> {
        let found = ctx
            .loaders()
            .region
            .load_one(self.0.membership.community_id)
            .await
            .map_err(load_error)?;
        found.map(Community).ok_or_else(|| {
            load_error(std::sync::Arc::new(sea_orm::DbErr::RecordNotFound(
                "community".into(),
            )))
        })
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.membership.user_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }

    async fn roles(&self) -> Vec<Role> {
        policy::Role::from_bits(self.0.membership.roles)
            .into_iter()
            .map(Role::from)
            .collect()
    }

    async fn status(&self) -> MembershipStatus {
        self.0.membership.status.into()
    }

    /// Why the request was refused or the member removed.
    async fn status_reason(&self) -> Option<&str> {
        self.0.membership.status_reason.as_deref()
    }

    async fn household(&self, ctx: &Context<'_>) -> Result<Option<Household>> {
        let Some(id) = self.0.membership.household_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .household
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Household))
    }

    /// The real name; masked (张*) except for the member and the community's staff.
    async fn real_name(&self) -> String {
        self.0.real_name()
    }

    /// The phone; masked (138****5678) except for the member and the community's staff.
    async fn phone(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.0.phone(&ctx.state().keys)?)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.membership.created_at
    }
}

pub struct Household(pub household::Model);

#[Object]
impl Household {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn building(&self) -> &str {
        &self.0.building
    }
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    async fn room(&self) -> &str {
        &self.0.room
    }
}

/// A community (社区): a region of kind COMMUNITY, the tenant of its records.
pub struct Community(pub region::Model);

#[Object]
impl Community {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The street (街道) the community belongs to.
    async fn street(&self, ctx: &Context<'_>) -> Result<Region> {
        let street_id = self.0.street_id.unwrap_or(self.0.district_id);
        load_region(ctx, street_id).await
    }

    async fn district(&self, ctx: &Context<'_>) -> Result<Region> {
        load_region(ctx, self.0.district_id).await
    }
}

pub async fn load_community(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Community> {
    Ok(Community(load_region(ctx, id).await?.0))
}

pub async fn load_region(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Region> {
    ctx.loaders()
        .region
        .load_one(id)
        .await
        .map_err(load_error)?
        .map(Region)
        .ok_or_else(|| {
            load_error(std::sync::Arc::new(sea_orm::DbErr::RecordNotFound(
                "region".into(),
            )))
        })
}

pub struct Region(pub region::Model);

#[Object]
impl Region {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> RegionKind {
        self.0.kind.into()
    }

    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Region>> {
        match self.0.parent_id {
            Some(id) => Ok(Some(load_region(ctx, id).await?)),
            None => Ok(None),
        }
    }

    /// The regions directly below this one.
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Region>> {
        let page = page_request_for(ctx, first, after)?;
        let rows = org_service::child_regions(&ctx.state().db, Some(self.0.id), page).await?;
        Ok(connection(rows, |r| r.id, Region))
    }
}

pub struct RegionOfficer(pub region_officer::Model);

#[Object]
impl RegionOfficer {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn role(&self) -> RegionRole {
        self.0.role.into()
    }

    async fn region(&self, ctx: &Context<'_>) -> Result<Region> {
        load_region(ctx, self.0.region_id).await
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.user_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    /// A JWT for the Authorization header, valid for 15 minutes.
    pub access_token: String,
    /// Exchange it with `refreshToken` for a new pair; it can be used once.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl From<AuthSession> for AuthPayload {
    fn from(session: AuthSession) -> Self {
        AuthPayload {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            expires_at: session.expires_at,
            user: User {
                viewer: Some(policy::Actor::User(session.user.id)),
                model: session.user,
            },
        }
    }
}

// ---------- queries ----------

#[derive(Default)]
pub struct OrgQuery;

#[Object]
impl OrgQuery {
    /// The caller, or null when not logged in.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Ok(user_id) = ctx.actor().user_id() else {
            return Ok(None);
        };
        Ok(org_service::find_user(&ctx.state().db, user_id)
            .await?
            .map(User::new))
    }

    /// A community, from the public directory (its records need membership).
    async fn community(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Community>> {
        let id = parse_id(&id, "id")?;
        Ok(org_service::find_community(&ctx.state().db, id)
            .await?
            .map(Community))
    }

    async fn region(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Region>> {
        let id = parse_id(&id, "id")?;
        Ok(org_service::find_region(&ctx.state().db, id)
            .await?
            .map(Region))
    }

    /// The public region directory: the regions below `parentId`, or the
    /// districts when it is not given.
    async fn regions(
        &self,
        ctx: &Context<'_>,
        parent_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Region>> {
        let parent_id = parse_opt_id(&parent_id, "parentId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = org_service::child_regions(&ctx.state().db, parent_id, page).await?;
        Ok(connection(rows, |r| r.id, Region))
    }

    /// The members of a community, oldest request first: for its staff and
    /// grid workers, and officers above it.
    #[allow(clippy::too_many_arguments)]
    async fn members(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        building: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Membership>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let filter = MemberFilter {
            status: status.map(Into::into),
            role: role.map(Into::into),
            building,
        };
        let rows =
            org_service::list_members(&ctx.state().db, &ctx.actor(), community_id, filter, page)
                .await?;
        Ok(connection(rows, |m| m.membership.id, Membership))
    }
}

// ---------- mutations ----------

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Logs in from the WeChat mini-program with the code of `wx.login()`.
    async fn wechat_login(&self, ctx: &Context<'_>, code: String) -> Result<AuthPayload> {
        Ok(auth_service::wechat_login(ctx.state(), &code).await?.into())
    }

    /// Logs in staff and officers by phone and password. Five wrong passwords
    /// in a row lock the account for 15 minutes.
    async fn password_login(
        &self,
        ctx: &Context<'_>,
        phone: String,
        password: String,
    ) -> Result<AuthPayload> {
        Ok(auth_service::password_login(ctx.state(), &phone, &password)
            .await?
            .into())
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works
    /// once; presenting a spent one logs out every session of its family.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(auth_service::refresh(ctx.state(), &refresh_token)
            .await?
            .into())
    }

    /// Ends the session the refresh token belongs to.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(auth_service::logout(ctx.state(), &ctx.actor(), &refresh_token).await?)
    }

    /// Sets the caller's phone + password login; changing it needs the current password.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        phone: String,
        password: String,
        current_password: Option<String>,
    ) -> Result<User> {
        let user = auth_service::set_password(
            ctx.state(),
            &ctx.actor(),
            &phone,
            &password,
            current_password.as_deref(),
        )
        .await?;
        Ok(User::new(user))
    }
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// Creates a district (platform administrator), a street (its district's
    /// officers) or a community (its street's or district's officers).
    async fn create_region(
        &self,
        ctx: &Context<'_>,
        name: String,
        kind: RegionKind,
        parent_id: Option<ID>,
    ) -> Result<Region> {
        let parent_id = parse_opt_id(&parent_id, "parentId")?;
        let created = org_service::create_region(
            &ctx.state().db,
            &ctx.actor(),
            &name,
            kind.into(),
            parent_id,
        )
        .await?;
        Ok(Region(created))
    }

    /// Appoints an officer over a region, creating their phone + password
    /// account when the phone has none (then `initialPassword` is required).
    async fn appoint_officer(
        &self,
        ctx: &Context<'_>,
        region_id: ID,
        phone: String,
        display_name: String,
        role: RegionRole,
        initial_password: Option<String>,
    ) -> Result<RegionOfficer> {
        let region_id = parse_id(&region_id, "regionId")?;
        let state = ctx.state();
        let appointed = org_service::appoint_officer(
            &state.db,
            &state.keys,
            &ctx.actor(),
            AppointOfficer {
                region_id,
                phone: &phone,
                display_name: &display_name,
                initial_password: initial_password.as_deref(),
                role: role.into(),
            },
        )
        .await?;
        Ok(RegionOfficer(appointed))
    }

    async fn revoke_officer(&self, ctx: &Context<'_>, officer_id: ID) -> Result<RegionOfficer> {
        let officer_id = parse_id(&officer_id, "officerId")?;
        Ok(RegionOfficer(
            org_service::revoke_officer(&ctx.state().db, &ctx.actor(), officer_id).await?,
        ))
    }

    /// Asks to join a community as a resident of a household; staff approve.
    #[allow(clippy::too_many_arguments)]
    async fn join_community(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        real_name: String,
        phone: String,
        building: String,
        unit: String,
        room: String,
    ) -> Result<Membership> {
        let community_id = parse_id(&community_id, "communityId")?;
        let state = ctx.state();
        let view = org_service::join_community(
            &state.db,
            &state.keys,
            &ctx.actor(),
            JoinRequest {
                community_id,
                real_name: &real_name,
                phone: &phone,
                building: &building,
                unit: &unit,
                room: &room,
            },
        )
        .await?;
        Ok(Membership(view))
    }

    /// Approves a request to join with the member's roles (STAFF needs an officer).
    async fn approve_membership(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        roles: Vec<Role>,
    ) -> Result<Membership> {
        let membership_id = parse_id(&membership_id, "membershipId")?;
        let roles: Vec<policy::Role> = roles.into_iter().map(Into::into).collect();
        Ok(Membership(
            org_service::approve_membership(&ctx.state().db, &ctx.actor(), membership_id, &roles)
                .await?,
        ))
    }

    /// Refuses a request to join, with a reason the applicant sees.
    async fn reject_membership(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        reason: String,
    ) -> Result<Membership> {
        let membership_id = parse_id(&membership_id, "membershipId")?;
        Ok(Membership(
            org_service::reject_membership(&ctx.state().db, &ctx.actor(), membership_id, &reason)
                .await?,
        ))
    }

    /// Replaces an active member's roles (adding or removing STAFF needs an officer).
    async fn set_member_roles(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        roles: Vec<Role>,
    ) -> Result<Membership> {
        let membership_id = parse_id(&membership_id, "membershipId")?;
        let roles: Vec<policy::Role> = roles.into_iter().map(Into::into).collect();
        Ok(Membership(
            org_service::set_member_roles(&ctx.state().db, &ctx.actor(), membership_id, &roles)
                .await?,
        ))
    }

    /// Removes an active member from the community, with a reason.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        reason: String,
    ) -> Result<Membership> {
        let membership_id = parse_id(&membership_id, "membershipId")?;
        Ok(Membership(
            org_service::remove_member(&ctx.state().db, &ctx.actor(), membership_id, &reason)
                .await?,
        ))
    }

    /// The caller leaves the community (or withdraws a pending request).
    async fn leave_community(&self, ctx: &Context<'_>, community_id: ID) -> Result<Membership> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(Membership(
            org_service::leave_community(&ctx.state().db, &ctx.actor(), community_id).await?,
        ))
    }

    /// Changes the caller's display name.
    async fn update_profile(&self, ctx: &Context<'_>, display_name: String) -> Result<User> {
        Ok(User::new(
            org_service::update_profile(&ctx.state().db, &ctx.actor(), &display_name).await?,
        ))
    }
}
