//! Mutations of the three lists.

use async_graphql::{Context, ID, Object, Result};

use super::inputs::*;
use super::types::*;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id};
use crate::service::lists::matching;
use crate::service::lists::needs::{self as need_service, NewNeed};
use crate::service::lists::organisations as organisation_service;
use crate::service::lists::projects::{self as project_service, NewProject};
use crate::service::lists::resources::{self as resource_service, NewResource};

#[derive(Default)]
pub struct ListsMutation;

#[Object]
impl ListsMutation {
    /// Offers a resource. A member offers their own (shown as a party
    /// member's when they hold PARTY_MEMBER); a representative offers their
    /// organisation's (`organisationId`); staff may enter either for someone
    /// (`providerId`, `organisationId`). FUNDS are counted in fen (unit “分”).
    #[allow(clippy::too_many_arguments)]
    async fn create_resource(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        category: ResourceCategory,
        action: FourAction,
        quantity: i32,
        unit: String,
        description: Option<String>,
        organisation_id: Option<ID>,
        provider_id: Option<ID>,
        skills: Option<Vec<String>>,
        windows: Option<Vec<AvailabilityWindowInput>>,
    ) -> Result<Resource> {
        let community_id = parse_id(&community_id, "communityId")?;
        let organisation_id = parse_opt_id(&organisation_id, "organisationId")?;
        let provider_id = parse_opt_id(&provider_id, "providerId")?;
        let skills = skills.unwrap_or_default();
        let windows: Vec<_> = windows
            .unwrap_or_default()
            .into_iter()
            .map(|w| (w.starts_at, w.ends_at))
            .collect();
        let created = resource_service::create_resource(
            &ctx.state().db,
            &ctx.actor(),
            NewResource {
                community_id,
                title: &title,
                category: category.into(),
                action: action.into(),
                quantity,
                unit: &unit,
                description: description.as_deref(),
                organisation_id,
                provider_id,
                skills: &skills,
                windows: &windows,
            },
        )
        .await?;
        Ok(Resource(created))
    }

    /// Takes back a resource nobody has pledged (AVAILABLE → WITHDRAWN): its
    /// provider, a representative of its organisation, or staff.
    async fn withdraw_resource(&self, ctx: &Context<'_>, resource_id: ID) -> Result<Resource> {
        let id = parse_id(&resource_id, "resourceId")?;
        Ok(Resource(
            resource_service::withdraw_resource(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Offers a withdrawn resource again (WITHDRAWN → AVAILABLE).
    async fn restore_resource(&self, ctx: &Context<'_>, resource_id: ID) -> Result<Resource> {
        let id = parse_id(&resource_id, "resourceId")?;
        Ok(Resource(
            resource_service::restore_resource(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Adds units to a resource (an EXHAUSTED or RESERVED one becomes AVAILABLE).
    async fn restock_resource(
        &self,
        ctx: &Context<'_>,
        resource_id: ID,
        quantity: i32,
    ) -> Result<Resource> {
        let id = parse_id(&resource_id, "resourceId")?;
        Ok(Resource(
            resource_service::restock_resource(&ctx.state().db, &ctx.actor(), id, quantity).await?,
        ))
    }

    /// Submits a need (SUBMITTED). A resident submits their own; a grid
    /// worker or staff member registers one for a resident with `onBehalfOf`
    /// (the resident's user id); the audit records who acted for whom.
    #[allow(clippy::too_many_arguments)]
    async fn submit_need(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        category: String,
        urgency: Urgency,
        description: String,
        on_behalf_of: Option<ID>,
        #[graphql(default_with = "BeneficiaryGroup::General")] beneficiary_group: BeneficiaryGroup,
    ) -> Result<Need> {
        let community_id = parse_id(&community_id, "communityId")?;
        let on_behalf_of = parse_opt_id(&on_behalf_of, "onBehalfOf")?;
        let view = need_service::submit_need(
            &ctx.state().db,
            &ctx.actor(),
            NewNeed {
                community_id,
                title: &title,
                category: &category,
                urgency: urgency.into(),
                description: &description,
                beneficiary_group: beneficiary_group.into(),
                on_behalf_of,
            },
        )
        .await?;
        Ok(Need(view))
    }

    /// Staff check a SUBMITTED need: accept it (ACCEPTED) or reject it
    /// (REJECTED, `reason` required).
    async fn review_need(
        &self,
        ctx: &Context<'_>,
        need_id: ID,
        accept: bool,
        reason: Option<String>,
    ) -> Result<Need> {
        let id = parse_id(&need_id, "needId")?;
        Ok(Need(
            need_service::review_need(&ctx.state().db, &ctx.actor(), id, accept, reason.as_deref())
                .await?,
        ))
    }

    /// Staff close a FULFILLED need (CLOSED).
    async fn close_need(&self, ctx: &Context<'_>, need_id: ID) -> Result<Need> {
        let id = parse_id(&need_id, "needId")?;
        Ok(Need(
            need_service::close_need(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }
}

#[derive(Default)]
pub struct ProjectsMutation;

#[Object]
impl ProjectsMutation {
    /// Creates a DRAFT project of the community from ACCEPTED or MATCHED
    /// needs (they become MATCHED and are claimed by it) and resource pledges
    /// (reserved at once; a resource is never over-reserved: CONFLICT when
    /// too few units are left). Budget in fen. Staff.
    #[allow(clippy::too_many_arguments)]
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        need_ids: Vec<ID>,
        pledges: Vec<PledgeInput>,
        budget_fen: i64,
        description: Option<String>,
        lead_organisation_id: Option<ID>,
    ) -> Result<Project> {
        let community_id = parse_id(&community_id, "communityId")?;
        let need_ids = need_ids
            .iter()
            .map(|id| parse_id(id, "needIds"))
            .collect::<Result<Vec<_>>>()?;
        let pledges = pledges
            .iter()
            .map(|p| Ok((parse_id(&p.resource_id, "pledges")?, p.quantity)))
            .collect::<Result<Vec<_>>>()?;
        let lead_organisation_id = parse_opt_id(&lead_organisation_id, "leadOrganisationId")?;
        let created = project_service::create_project(
            &ctx.state().db,
            &ctx.actor(),
            NewProject {
                community_id,
                title: &title,
                description: description.as_deref(),
                need_ids: &need_ids,
                pledges: &pledges,
                budget_fen,
                lead_organisation_id,
            },
        )
        .await?;
        Ok(Project(created))
    }

    /// DRAFT → SUBMITTED, for the street's review. Staff.
    async fn submit_project(&self, ctx: &Context<'_>, project_id: ID) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        Ok(Project(
            project_service::submit_project(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// The street's review (STREET_ADMIN, DISTRICT_ADMIN above): a score
    /// 0–100 and a comment. At or above the pass mark (PROJECT_PASS_MARK,
    /// default 60) the project enters the street's library (IN_LIBRARY),
    /// below it is REJECTED and its reservations are released.
    async fn review_project(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        score: i32,
        comment: Option<String>,
    ) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        let pass_mark = ctx.state().settings.project_pass_mark;
        Ok(Project(
            project_service::review_project(
                &ctx.state().db,
                &ctx.actor(),
                id,
                score,
                comment.as_deref(),
                pass_mark,
            )
            .await?,
        ))
    }

    /// Removes a project from the street's library (出库) with a reason;
    /// its reservations are released. The street's officers.
    async fn remove_project_from_library(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        reason: String,
    ) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        Ok(Project(
            project_service::remove_from_library(&ctx.state().db, &ctx.actor(), id, &reason)
                .await?,
        ))
    }

    /// A community of the street picks the project from the library (点选):
    /// IN_LIBRARY → SELECTED. `communityId` is needed only when the caller is
    /// staff of several communities of the street. Staff.
    async fn select_project(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        community_id: Option<ID>,
    ) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        let community_id = parse_opt_id(&community_id, "communityId")?;
        Ok(Project(
            project_service::select_project(&ctx.state().db, &ctx.actor(), id, community_id)
                .await?,
        ))
    }

    /// SELECTED → IN_PROGRESS; its needs move to IN_PROGRESS. Staff of the
    /// delivering community.
    async fn start_project(&self, ctx: &Context<'_>, project_id: ID) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        Ok(Project(
            project_service::start_project(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// IN_PROGRESS → COMPLETED: each pledge consumes the units `usage` says
    /// were used (all when not said) and releases the rest; the needs become
    /// FULFILLED; `spentFen` records what was spent. Staff of the delivering
    /// community.
    async fn complete_project(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        spent_fen: Option<i64>,
        usage: Option<Vec<PledgeUsageInput>>,
    ) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        let usage = usage
            .unwrap_or_default()
            .iter()
            .map(|u| Ok((parse_id(&u.resource_id, "usage")?, u.used_quantity)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Project(
            project_service::complete_project(&ctx.state().db, &ctx.actor(), id, spent_fen, &usage)
                .await?,
        ))
    }

    /// Rates a COMPLETED project 1–5 with a comment: residents of the
    /// delivering community and observers over it, one rating per person
    /// (rating again replaces it).
    async fn rate_project(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        score: i32,
        comment: Option<String>,
    ) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        let db = &ctx.state().db;
        project_service::rate_project(db, &ctx.actor(), id, score, comment.as_deref()).await?;
        Ok(Project(
            project_service::find_project(db, &ctx.actor(), id).await?,
        ))
    }

    /// Closes the ratings of a COMPLETED project (EVALUATED). Staff of the
    /// delivering community.
    async fn close_project_evaluation(&self, ctx: &Context<'_>, project_id: ID) -> Result<Project> {
        let id = parse_id(&project_id, "projectId")?;
        Ok(Project(
            project_service::close_evaluation(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Staff confirm a match of an ACCEPTED (or MATCHED) need with an
    /// AVAILABLE resource of the street: the link is kept, the need becomes MATCHED.
    async fn confirm_match(&self, ctx: &Context<'_>, need_id: ID, resource_id: ID) -> Result<Need> {
        let need_id = parse_id(&need_id, "needId")?;
        let resource_id = parse_id(&resource_id, "resourceId")?;
        Ok(Need(
            matching::confirm_match(&ctx.state().db, &ctx.actor(), need_id, resource_id).await?,
        ))
    }

    /// Registers an organisation in a community (its staff) or with a street
    /// (the street's officers).
    async fn create_organisation(
        &self,
        ctx: &Context<'_>,
        region_id: ID,
        name: String,
        kind: OrganisationKind,
        description: Option<String>,
    ) -> Result<Organisation> {
        let region_id = parse_id(&region_id, "regionId")?;
        Ok(Organisation(
            organisation_service::create_organisation(
                &ctx.state().db,
                &ctx.actor(),
                region_id,
                &name,
                kind.into(),
                description.as_deref(),
            )
            .await?,
        ))
    }

    /// Names a user as a representative who acts for the organisation
    /// (offers its resources).
    async fn add_organisation_representative(
        &self,
        ctx: &Context<'_>,
        organisation_id: ID,
        user_id: ID,
    ) -> Result<Organisation> {
        let organisation_id = parse_id(&organisation_id, "organisationId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(Organisation(
            organisation_service::add_representative(
                &ctx.state().db,
                &ctx.actor(),
                organisation_id,
                user_id,
            )
            .await?,
        ))
    }

    async fn remove_organisation_representative(
        &self,
        ctx: &Context<'_>,
        organisation_id: ID,
        user_id: ID,
    ) -> Result<Organisation> {
        let organisation_id = parse_id(&organisation_id, "organisationId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(Organisation(
            organisation_service::remove_representative(
                &ctx.state().db,
                &ctx.actor(),
                organisation_id,
                user_id,
            )
            .await?,
        ))
    }
}
