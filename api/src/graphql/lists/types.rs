//! Output types of the three lists, each built from an entity model.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::lists::{organisation, pledge, project, project_rating, resource, resource_window};
use entity::org::region;

use crate::graphql::context::ContextExt;
use crate::graphql::ids::to_id;
use crate::graphql::loaders::load_error;
use crate::graphql::org::{Community, User};
use crate::service::lists::needs::NeedView;
use crate::service::lists::projects as project_service;
use crate::service::lists::{indices, matching};

// ---------- enums ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::resource::ResourceCategory")]
pub enum ResourceCategory {
    /// 场地
    Venue,
    /// 技能
    Skill,
    /// 资金 (quantity in fen, unit “分”)
    Funds,
    /// 物资
    Goods,
    /// 服务
    Service,
    /// 志愿服务时间
    VolunteerTime,
}

/// The four actions (四大行动) that mobilise resources.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::resource::FourAction")]
pub enum FourAction {
    /// 党员为民服务 (only from a member with the PARTY_MEMBER role)
    PartyMemberService,
    /// 邻里互助
    NeighbourMutualAid,
    /// 社区社会组织公益
    SocialOrgWelfare,
    /// 辖区单位资源和服务共享
    UnitSharing,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::resource::ResourceStatus")]
pub enum ResourceStatus {
    /// Units are left to pledge.
    Available,
    /// Every unit left is pledged to projects that are not finished.
    Reserved,
    /// Every unit was used.
    Exhausted,
    /// Taken back by its provider or staff.
    Withdrawn,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::need::Urgency")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::need::NeedStatus")]
pub enum NeedStatus {
    /// Waiting for staff to check it.
    Submitted,
    Accepted,
    /// Refused by staff, with a reason.
    Rejected,
    /// A resource or a project was found for it.
    Matched,
    /// Its project has started.
    InProgress,
    /// Its project was completed.
    Fulfilled,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::need::BeneficiaryGroup")]
pub enum BeneficiaryGroup {
    /// 独居老人
    ElderlyAlone,
    /// 残疾人
    Disabled,
    /// 困境儿童
    ChildInDifficulty,
    /// 低收入
    LowIncome,
    General,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::organisation::OrganisationKind")]
pub enum OrganisationKind {
    /// 社会组织
    SocialOrganisation,
    Company,
    School,
    Hospital,
    /// 其他辖区单位
    OtherUnit,
}

// ---------- resources ----------

pub struct Resource(pub resource::Model);

/// An entry of the resources list (资源清单): what a member, an organisation
/// or the community offers.
#[Object]
impl Resource {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn category(&self) -> ResourceCategory {
        self.0.category.into()
    }
    async fn action(&self) -> FourAction {
        self.0.action.into()
    }
    /// Units offered in all (fen for FUNDS).
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Units pledged to projects that have not finished.
    async fn reserved(&self) -> i32 {
        self.0.reserved
    }
    /// Units consumed by finished projects.
    async fn used(&self) -> i32 {
        self.0.used
    }
    /// Units left to pledge: quantity − reserved − used.
    async fn remaining(&self) -> i32 {
        self.0.remaining()
    }
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    async fn status(&self) -> ResourceStatus {
        self.0.status.into()
    }
    async fn skills(&self) -> Vec<String> {
        self.0.skill_list()
    }
    /// Offered by a member who held the PARTY_MEMBER role (shown as a party member's).
    async fn from_party_member(&self) -> bool {
        self.0.from_party_member
    }
    /// The member who offers it (display name only), if a member does.
    async fn provider(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.provider_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .user
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    /// The organisation that offers it, if one does.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let Some(id) = self.0.organisation_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .organisation
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Organisation))
    }
    /// The community that lists it.
    async fn community(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        load_community(ctx, self.0.community_id).await
    }
    /// When it can be used.
    async fn windows(&self, ctx: &Context<'_>) -> Result<Vec<AvailabilityWindow>> {
        Ok(ctx
            .loaders()
            .windows_of_resource
            .load_one(self.0.id)
            .await
            .map_err(load_error)?
            .unwrap_or_default()
            .into_iter()
            .map(AvailabilityWindow)
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub(crate) async fn load_community(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Option<Community>> {
    Ok(ctx
        .loaders()
        .region
        .load_one(id)
        .await
        .map_err(load_error)?
        .map(Community))
}

pub struct AvailabilityWindow(pub resource_window::Model);

/// When a resource can be used.
#[Object]
impl AvailabilityWindow {
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
}

// ---------- organisations ----------

pub struct Organisation(pub organisation::Model);

/// A social organisation or local unit, registered in a community or with a street.
#[Object]
impl Organisation {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> OrganisationKind {
        self.0.kind.into()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The community it is registered in; null when registered with the street.
    async fn community(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        match self.0.community_id {
            Some(id) => load_community(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn street(&self, ctx: &Context<'_>) -> Result<Option<crate::graphql::org::Region>> {
        Ok(ctx
            .loaders()
            .region
            .load_one(self.0.street_id)
            .await
            .map_err(load_error)?
            .map(crate::graphql::org::Region))
    }
}

// ---------- needs ----------

pub struct Need(pub NeedView);

/// An entry of the needs list (需求清单). Personal details (description,
/// requester, who entered it, rejection reason) are null for callers who may
/// not see them: only the requester, whoever entered it, and the community's
/// staff and grid workers may.
#[Object]
impl Need {
    async fn id(&self) -> ID {
        to_id(self.0.need.id)
    }
    async fn title(&self) -> &str {
        &self.0.need.title
    }
    /// Free text; a resource category name (SERVICE, GOODS…) or its Chinese
    /// name (服务, 物资…) makes matching by category possible.
    async fn category(&self) -> &str {
        &self.0.need.category
    }
    async fn urgency(&self) -> Urgency {
        self.0.need.urgency.into()
    }
    async fn status(&self) -> NeedStatus {
        self.0.need.status.into()
    }
    async fn beneficiary_group(&self) -> BeneficiaryGroup {
        self.0.need.beneficiary_group.into()
    }
    /// The description: null unless the caller is the requester, whoever
    /// entered the need, or the community's staff or grid workers.
    async fn description(&self) -> Option<&str> {
        self.0.reveal.then_some(self.0.need.description.as_str())
    }
    /// The resident the need is for (same visibility as `description`).
    async fn requester(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        self.load_user(ctx, self.0.need.requester_id).await
    }
    /// Who entered it: the requester, or a grid worker or staff member acting
    /// for them (same visibility as `description`).
    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        self.load_user(ctx, self.0.need.submitted_by).await
    }
    /// Why it was rejected (same visibility as `description`).
    async fn reject_reason(&self) -> Option<&str> {
        if self.0.reveal {
            self.0.need.status_reason.as_deref()
        } else {
            None
        }
    }
    /// Whether the caller may see the personal details.
    async fn details_visible(&self) -> bool {
        self.0.reveal
    }
    async fn community(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        load_community(ctx, self.0.need.community_id).await
    }
    /// The project currently taking it on.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let Some(id) = self.0.need.project_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .project
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Project))
    }
    /// Resources staff confirmed as a match.
    async fn matched_resources(&self, ctx: &Context<'_>) -> Result<Vec<Resource>> {
        Ok(matching::matched_resources(&ctx.state().db, self.0.need.id)
            .await?
            .into_iter()
            .map(Resource)
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.need.created_at
    }
}

impl Need {
    async fn load_user(&self, ctx: &Context<'_>, id: uuid::Uuid) -> Result<Option<User>> {
        if !self.0.reveal {
            return Ok(None);
        }
        Ok(ctx
            .loaders()
            .user
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
}

// ---------- projects ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::project::ProjectStatus")]
pub enum ProjectStatus {
    Draft,
    /// Waiting for the street's review.
    Submitted,
    /// Scored at or above the pass mark: in the street's library (入库).
    InLibrary,
    /// Scored below the pass mark.
    Rejected,
    /// Picked from the library by a community (点选).
    Selected,
    InProgress,
    Completed,
    /// Ratings closed.
    Evaluated,
    /// Taken out of the library with a reason (出库).
    RemovedFromLibrary,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lists::pledge::PledgeStatus")]
pub enum PledgeStatus {
    /// Units held for the project while it runs.
    Reserved,
    /// The project finished and used `usedQuantity` units.
    Consumed,
    /// Given back unused.
    Released,
}

pub struct Project(pub project::Model);

/// An entry of the projects list (项目清单), reviewed into its street's library.
#[Object]
impl Project {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn status(&self) -> ProjectStatus {
        self.0.status.into()
    }
    /// The budget in fen (分).
    async fn budget_fen(&self) -> i64 {
        self.0.budget_fen
    }
    /// What was spent, in fen, recorded at completion.
    async fn spent_fen(&self) -> Option<i64> {
        self.0.spent_fen
    }
    /// The needs it addresses (details as the caller may see them).
    async fn needs(&self, ctx: &Context<'_>) -> Result<Vec<Need>> {
        let views = project_service::project_needs(&ctx.state().db, &ctx.actor(), &self.0).await?;
        Ok(views.into_iter().map(Need).collect())
    }
    async fn pledges(&self, ctx: &Context<'_>) -> Result<Vec<Pledge>> {
        Ok(ctx
            .loaders()
            .pledges_of_project
            .load_one(self.0.id)
            .await
            .map_err(load_error)?
            .unwrap_or_default()
            .into_iter()
            .map(Pledge)
            .collect())
    }
    /// Volunteer activities organised for it (`createActivity(projectId:)`).
    async fn activities(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::credits::Activity>> {
        Ok(
            project_service::activities_of(&ctx.state().db, &ctx.actor(), self.0.id)
                .await?
                .into_iter()
                .map(crate::graphql::credits::Activity)
                .collect(),
        )
    }
    /// The average rating (1–5) of residents and observers; null before any.
    async fn average_rating(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(self.rating_summary(ctx).await?.average)
    }
    async fn rating_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(self.rating_summary(ctx).await?.count)
    }
    /// The caller's own rating, if any.
    async fn my_rating(&self, ctx: &Context<'_>) -> Result<Option<ProjectRating>> {
        Ok(
            project_service::my_rating(&ctx.state().db, &ctx.actor(), self.0.id)
                .await?
                .map(ProjectRating),
        )
    }
    async fn ratings(&self, ctx: &Context<'_>) -> Result<Vec<ProjectRating>> {
        Ok(
            project_service::ratings(&ctx.state().db, &ctx.actor(), self.0.id)
                .await?
                .into_iter()
                .map(ProjectRating)
                .collect(),
        )
    }
    /// The street review's score (0–100), comment and time.
    async fn review_score(&self) -> Option<i32> {
        self.0.review_score
    }
    async fn review_comment(&self) -> Option<&str> {
        self.0.review_comment.as_deref()
    }
    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_at
    }
    /// Why it was removed from the library (出库).
    async fn removal_reason(&self) -> Option<&str> {
        self.0.removal_reason.as_deref()
    }
    /// The community that created it.
    async fn community(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        load_community(ctx, self.0.community_id).await
    }
    /// The community that picked it from the library and delivers it.
    async fn selected_by(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        match self.0.selected_community_id {
            Some(id) => load_community(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn lead_organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let Some(id) = self.0.lead_organisation_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .organisation
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Organisation))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

impl Project {
    async fn rating_summary(&self, ctx: &Context<'_>) -> Result<project_service::RatingSummary> {
        Ok(ctx
            .loaders()
            .rating_summary
            .load_one(self.0.id)
            .await
            .map_err(load_error)?
            .unwrap_or_default())
    }
}

pub struct Pledge(pub pledge::Model);

/// Units of a resource pledged to a project.
#[Object]
impl Pledge {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn resource(&self, ctx: &Context<'_>) -> Result<Resource> {
        ctx.loaders()
            .resource
            .load_one(self.0.resource_id)
            .await
            .map_err(load_error)?
            .map(Resource)
            .ok_or_else(|| {
                load_error(std::sync::Arc::new(sea_orm::DbErr::RecordNotFound(
                    "resource".into(),
                )))
            })
    }
    /// Units pledged (reserved while the project runs).
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Units used, once the project completed.
    async fn used_quantity(&self) -> Option<i32> {
        self.0.used_quantity
    }
    async fn status(&self) -> PledgeStatus {
        self.0.status.into()
    }
}

pub struct ProjectRating(pub project_rating::Model);

/// One person's rating of a completed project.
#[Object]
impl ProjectRating {
    async fn score(&self) -> i32 {
        self.0.score
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// Given by a livelihood observer (民生观察员) rather than a resident.
    async fn as_observer(&self) -> bool {
        self.0.as_observer
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

// ---------- matching ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::service::lists::matching::Scope")]
pub enum MatchScope {
    /// A resource of the need's own community.
    Community,
    /// A resource of another community of the same street.
    Street,
}

pub struct MatchSuggestion(pub matching::Suggestion);

/// A ranked resource for a need: score = 0.5 × categoryFit + 0.2 × skillFit
/// + 0.3 × textSimilarity (character bigrams, Dice's coefficient).
#[Object]
impl MatchSuggestion {
    async fn resource(&self) -> Resource {
        Resource(self.0.resource.clone())
    }
    async fn scope(&self) -> MatchScope {
        self.0.scope.into()
    }
    async fn score(&self) -> f64 {
        self.0.score
    }
    async fn category_fit(&self) -> f64 {
        self.0.category_fit
    }
    async fn skill_fit(&self) -> f64 {
        self.0.skill_fit
    }
    async fn text_similarity(&self) -> f64 {
        self.0.text_similarity
    }
}

pub struct NeedSuggestion(pub NeedView, pub f64);

/// An open need a resource could serve.
#[Object]
impl NeedSuggestion {
    async fn need(&self) -> Need {
        Need(self.0.clone())
    }
    async fn score(&self) -> f64 {
        self.1
    }
}

// ---------- indices ----------

pub struct CommunityIndices(pub indices::Indices);

/// The four indices (四个指数) of one community over [from, to). "Delivered
/// by C": the community that selected the project, or the one that created
/// it until then.
#[Object]
impl CommunityIndices {
    /// 资源团队指数 = the number of distinct contributors, each counted once:
    /// organisations and individual providers that offered a resource in the
    /// community in the period or whose resource was pledged in the period
    /// to a project delivered by it (a pledge not released unused), plus organisations leading a project
    /// delivered by it that was running in the period. (Volunteer teams are
    /// not counted.)
    async fn teams(&self) -> f64 {
        self.0.teams as f64
    }
    /// 资源项目指数 = the number of projects delivered by the community that
    /// were running in the period (started before `to` and not completed
    /// before `from`) and drew on at least one resource pledge not released
    /// unused.
    async fn projects(&self) -> f64 {
        self.0.projects as f64
    }
    /// 资源资金指数 = (fundsPledgedFen + fundsSpentFen) / 100, in yuan.
    async fn funds(&self) -> f64 {
        self.0.funds_yuan()
    }
    /// 资源积分指数 = pointsEarned + pointsSpent.
    async fn points(&self) -> f64 {
        self.0.points() as f64
    }
    /// Fen of FUNDS resources pledged in the period to projects delivered by
    /// the community (the reserved amount, or the amount used once settled).
    async fn funds_pledged_fen(&self) -> i64 {
        self.0.funds_pledged_fen
    }
    /// Fen spent by projects delivered by the community and completed in the period.
    async fn funds_spent_fen(&self) -> i64 {
        self.0.funds_spent_fen
    }
    /// Volunteer points earned in the community in the period: EARN postings
    /// minus the postings that reverse EARN postings.
    async fn points_earned(&self) -> i64 {
        self.0.points_earned
    }
    /// Volunteer points spent in the community in the period: REDEEM postings
    /// minus the postings that reverse REDEEM postings.
    async fn points_spent(&self) -> i64 {
        self.0.points_spent
    }
}

pub struct CommunityIndicesRow(pub region::Model, pub indices::Indices);

/// One community's indices in a region's side-by-side view.
#[Object]
impl CommunityIndicesRow {
    async fn community(&self) -> Community {
        Community(self.0.clone())
    }
    async fn indices(&self) -> CommunityIndices {
        CommunityIndices(self.1)
    }
}
