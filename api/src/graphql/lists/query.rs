//! Queries of the three lists.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::types::*;
use crate::error::{Reason, ServiceError, api_error};
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id};
use crate::graphql::page::{LinliConnection, connection, page_request_for};
use crate::service::lists::indices as index_service;
use crate::service::lists::matching;
use crate::service::lists::needs as need_service;
use crate::service::lists::organisations as organisation_service;
use crate::service::lists::projects as project_service;
use crate::service::lists::resources::{self as resource_service, ResourceFilter};

#[derive(Default)]
pub struct ListsQuery;

#[Object]
impl ListsQuery {
    /// The community's resources list, oldest first, with optional filters:
    /// category, action, status, provider (a member), organisation and a
    /// keyword found in the title, description or skills. For its members
    /// and officers above.
    #[allow(clippy::too_many_arguments)]
    async fn resources(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        first: Option<i32>,
        after: Option<String>,
        category: Option<ResourceCategory>,
        action: Option<FourAction>,
        status: Option<ResourceStatus>,
        provider_id: Option<ID>,
        organisation_id: Option<ID>,
        keyword: Option<String>,
    ) -> Result<LinliConnection<Resource>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let filter = ResourceFilter {
            category: category.map(Into::into),
            action: action.map(Into::into),
            status: status.map(Into::into),
            provider_id: parse_opt_id(&provider_id, "providerId")?,
            organisation_id: parse_opt_id(&organisation_id, "organisationId")?,
            keyword,
        };
        let rows = resource_service::list_resources(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            filter,
            page,
        )
        .await?;
        Ok(connection(rows, |r| r.id, Resource))
    }

    async fn resource(&self, ctx: &Context<'_>, id: ID) -> Result<Resource> {
        let id = parse_id(&id, "id")?;
        Ok(Resource(
            resource_service::find_resource(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// The community's needs list, oldest first. Members see title, category,
    /// urgency and status; the description and who the need is for only the
    /// requester, staff and grid workers.
    async fn needs(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        status: Option<NeedStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Need>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = need_service::list_needs(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            status.map(Into::into),
            page,
        )
        .await?;
        Ok(connection(rows, |n| n.need.id, Need))
    }

    /// The staff queue: needs in `statuses` (default SUBMITTED and ACCEPTED),
    /// most urgent first, then oldest first. For staff and grid workers.
    async fn need_queue(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        statuses: Option<Vec<NeedStatus>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Need>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = need_service::need_queue(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            statuses.map(|s| s.into_iter().map(Into::into).collect()),
            page,
        )
        .await?;
        Ok(connection(rows, |n| n.need.id, Need))
    }

    async fn need(&self, ctx: &Context<'_>, id: ID) -> Result<Need> {
        let id = parse_id(&id, "id")?;
        Ok(Need(
            need_service::find_need(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }
}

#[derive(Default)]
pub struct ProjectsQuery;

#[Object]
impl ProjectsQuery {
    /// The community's projects: those it created and those it selected
    /// from the street's library, oldest first.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        status: Option<ProjectStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Project>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = project_service::list_projects(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            status.map(Into::into),
            page,
        )
        .await?;
        Ok(connection(rows, |p| p.id, Project))
    }

    /// A street's project library (项目库): IN_LIBRARY projects (or `status`),
    /// for the street's officers and observers and its communities' staff.
    async fn project_library(
        &self,
        ctx: &Context<'_>,
        street_id: ID,
        status: Option<ProjectStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Project>> {
        let street_id = parse_id(&street_id, "streetId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = project_service::project_library(
            &ctx.state().db,
            &ctx.actor(),
            street_id,
            status.map(Into::into),
            page,
        )
        .await?;
        Ok(connection(rows, |p| p.id, Project))
    }

    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Project> {
        let id = parse_id(&id, "id")?;
        Ok(Project(
            project_service::find_project(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// AVAILABLE resources that could serve a need: the community's first,
    /// then its street's, each by score (see `rankedMatches`). For staff and
    /// grid workers of the need's community.
    async fn match_suggestions(
        &self,
        ctx: &Context<'_>,
        need_id: ID,
        first: Option<i32>,
    ) -> Result<Vec<Resource>> {
        let need_id = parse_id(&need_id, "needId")?;
        let found = matching::suggestions_for_need(
            &ctx.state().db,
            &ctx.actor(),
            need_id,
            suggestions(first)?,
        )
        .await?;
        Ok(found.into_iter().map(|s| Resource(s.resource)).collect())
    }

    /// `matchSuggestions` with the score, its parts and whether the resource
    /// is the community's own or from another community of the street.
    async fn ranked_matches(
        &self,
        ctx: &Context<'_>,
        need_id: ID,
        first: Option<i32>,
    ) -> Result<Vec<MatchSuggestion>> {
        let need_id = parse_id(&need_id, "needId")?;
        let found = matching::suggestions_for_need(
            &ctx.state().db,
            &ctx.actor(),
            need_id,
            suggestions(first)?,
        )
        .await?;
        Ok(found.into_iter().map(MatchSuggestion).collect())
    }

    /// The other way round: ACCEPTED needs of the resource's community that
    /// it could serve, best first.
    async fn needs_for_resource(
        &self,
        ctx: &Context<'_>,
        resource_id: ID,
        first: Option<i32>,
    ) -> Result<Vec<NeedSuggestion>> {
        let resource_id = parse_id(&resource_id, "resourceId")?;
        let found = matching::needs_for_resource(
            &ctx.state().db,
            &ctx.actor(),
            resource_id,
            suggestions(first)?,
        )
        .await?;
        Ok(found
            .into_iter()
            .map(|(n, s)| NeedSuggestion(n, s))
            .collect())
    }

    /// The four indices of a community over [from, to); each field's
    /// description gives its formula. For its staff and officers above.
    async fn indices(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<CommunityIndices> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(CommunityIndices(
            index_service::community_indices(&ctx.state().db, &ctx.actor(), community_id, from, to)
                .await?,
        ))
    }

    /// Every community under a street or district side by side (by name),
    /// for the officers of that region or above.
    async fn region_indices(
        &self,
        ctx: &Context<'_>,
        region_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CommunityIndicesRow>> {
        let region_id = parse_id(&region_id, "regionId")?;
        Ok(
            index_service::region_indices(&ctx.state().db, &ctx.actor(), region_id, from, to)
                .await?
                .into_iter()
                .map(|(c, i)| CommunityIndicesRow(c, i))
                .collect(),
        )
    }

    /// Organisations serving a community: registered in it or with its street.
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Organisation>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = organisation_service::list_organisations(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            page,
        )
        .await?;
        Ok(connection(rows, |o| o.id, Organisation))
    }
}

fn suggestions(first: Option<i32>) -> Result<usize> {
    match first {
        None => Ok(10),
        Some(n) if (1..=matching::MAX_SUGGESTIONS as i32).contains(&n) => Ok(n as usize),
        Some(_) => Err(api_error(ServiceError::bad_input(
            Reason::PageSizeOutOfRange,
            "first",
            format!("first 必须在1到{}之间", matching::MAX_SUGGESTIONS),
        ))),
    }
}
