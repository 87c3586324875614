//! The community covenant: versions, articles, comments, comparison, pledges,
//! filing, ratings, awards and the region view.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::covenant::{
    covenant, covenant_award, covenant_comment, covenant_filing, covenant_rating, covenant_version,
};

use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id, to_id};
use crate::graphql::loaders::load_error;
use crate::graphql::org::{Community, Household, User};
use crate::graphql::page::{LinliConnection, connection, page_request_for};
use crate::service::covenant::{
    self as covenant_service, ArticleView, ChangeKind, RegionCovenantRow, SpanKind,
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::covenant::covenant_version::CovenantStatus")]
pub enum CovenantStatus {
    Draft,
    /// Residents comment until `commentUntil`.
    InComment,
    /// A ballot of the community decides.
    Voting,
    /// The one version residents pledge to keep.
    InForce,
    /// Was in force; a later version replaced it.
    Superseded,
    /// The vote did not pass.
    Rejected,
}

#[derive(InputObject)]
pub struct ArticleInput {
    /// 章, e.g. “第一章 总则”.
    pub chapter: String,
    pub title: String,
    pub body: String,
}

impl From<ArticleInput> for covenant_service::ArticleInput {
    fn from(input: ArticleInput) -> Self {
        covenant_service::ArticleInput {
            chapter: input.chapter,
            title: input.title,
            body: input.body,
        }
    }
}

pub struct Covenant {
    model: covenant::Model,
    /// Pledge figures of the version in force, computed once for the fields that share them.
    stats: tokio::sync::OnceCell<covenant_service::PledgeStats>,
}

impl Covenant {
    pub fn new(model: covenant::Model) -> Self {
        Covenant {
            model,
            stats: tokio::sync::OnceCell::new(),
        }
    }
}

#[Object]
impl Covenant {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    async fn community(&self, ctx: &Context<'_>) -> Result<Community> {
        crate::graphql::org::load_community(ctx, self.model.community_id).await
    }

    /// The version in force, readable by anyone.
    async fn in_force(&self, ctx: &Context<'_>) -> Result<Option<CovenantVersion>> {
        Ok(
            covenant_service::in_force(&ctx.state().db, self.model.community_id)
                .await?
                .map(CovenantVersion),
        )
    }

    /// Versions oldest first: for members every version past drafts, for
    /// staff drafts too, for anyone else only the one in force.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<CovenantVersion>> {
        let rows =
            covenant_service::versions_visible(&ctx.state().db, &ctx.actor(), &self.model).await?;
        Ok(rows.into_iter().map(CovenantVersion).collect())
    }

    /// Residents who pledged to keep the version in force (0 when none is).
    async fn pledge_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(self.stats(ctx).await?.pledge_count)
    }

    /// Households with at least one pledge to the version in force, over the
    /// households of the community that have an active member (0 to 1).
    async fn household_coverage(&self, ctx: &Context<'_>) -> Result<f64> {
        Ok(self.stats(ctx).await?.household_coverage())
    }

    /// Whether the caller has pledged to the version in force.
    async fn pledged_by_me(&self, ctx: &Context<'_>) -> Result<bool> {
        let state = ctx.state();
        match covenant_service::in_force(&state.db, self.model.community_id).await? {
            Some(version) => {
                Ok(covenant_service::has_pledged(&state.db, &ctx.actor(), version.id).await?)
            }
            None => Ok(false),
        }
    }

    /// Excellent-covenant awards (优秀公约), by year.
    async fn awards(&self, ctx: &Context<'_>) -> Result<Vec<CovenantAward>> {
        let rows = covenant_service::awards_of(&ctx.state().db, &[self.model.id]).await?;
        Ok(rows.into_iter().map(CovenantAward).collect())
    }
}

impl Covenant {
    async fn stats(&self, ctx: &Context<'_>) -> Result<covenant_service::PledgeStats> {
        let stats = self
            .stats
            .get_or_try_init(|| async {
                let state = ctx.state();
                let stats = match covenant_service::in_force(&state.db, self.model.community_id)
                    .await?
                {
                    Some(version) => covenant_service::pledge_stats(&state.db, &version).await?,
                    None => covenant_service::PledgeStats::default(),
                };
                Ok::<_, crate::error::ServiceError>(stats)
            })
            .await?;
        Ok(*stats)
    }
}

pub struct CovenantVersion(pub covenant_version::Model);

#[Object]
impl CovenantVersion {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn number(&self) -> i32 {
        self.0.number
    }

    async fn status(&self) -> CovenantStatus {
        self.0.status.into()
    }

    /// Comments are taken until then (set when comment opens).
    async fn comment_until(&self) -> Option<DateTime<Utc>> {
        self.0.comment_until
    }

    /// The ballot that decides (or decided) adoption.
    async fn ballot_id(&self) -> Option<ID> {
        self.0.ballot_id.map(to_id)
    }

    async fn in_force_at(&self) -> Option<DateTime<Utc>> {
        self.0.in_force_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn articles(&self, ctx: &Context<'_>) -> Result<Vec<Article>> {
        let rows = covenant_service::articles(&ctx.state().db, self.0.id).await?;
        Ok(rows.into_iter().map(Article).collect())
    }

    /// The street's filing (备案), once acknowledged.
    async fn filing(&self, ctx: &Context<'_>) -> Result<Option<CovenantFiling>> {
        Ok(covenant_service::filing_of(&ctx.state().db, self.0.id)
            .await?
            .map(CovenantFiling))
    }

    /// The average of officers' scores (0–100), null before any rating.
    async fn average_rating(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(covenant_service::rating_summary(&ctx.state().db, self.0.id)
            .await?
            .0)
    }

    async fn rating_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(covenant_service::rating_summary(&ctx.state().db, self.0.id)
            .await?
            .1)
    }
}

pub struct Article(pub ArticleView);

#[Object]
impl Article {
    async fn id(&self) -> ID {
        to_id(self.0.article.id)
    }

    /// 1, 2, 3… in the version.
    async fn position(&self) -> i32 {
        self.0.article.position
    }

    async fn chapter(&self) -> &str {
        &self.0.article.chapter
    }

    async fn title(&self) -> &str {
        &self.0.article.title
    }

    async fn body(&self) -> &str {
        &self.0.article.body
    }

    /// Residents' comments on this article (replies not counted separately).
    async fn comment_count(&self) -> i64 {
        self.0.comment_count
    }
}

pub struct CovenantComment(pub covenant_comment::Model);

#[Object]
impl CovenantComment {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The article commented on; null for a comment on the whole.
    async fn article_id(&self) -> Option<ID> {
        self.0.article_id.map(to_id)
    }

    /// The comment this one replies to.
    async fn reply_to(&self) -> Option<ID> {
        self.0.parent_id.map(to_id)
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.author_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct CovenantFiling(pub covenant_filing::Model);

#[Object]
impl CovenantFiling {
    async fn filed_on(&self) -> NaiveDate {
        self.0.filed_on
    }

    async fn filed_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.filed_by)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
}

pub struct CovenantRating(pub covenant_rating::Model);

#[Object]
impl CovenantRating {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn score(&self) -> i32 {
        self.0.score
    }

    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
}

pub struct CovenantAward(pub covenant_award::Model);

#[Object]
impl CovenantAward {
    async fn year(&self) -> i32 {
        self.0.year
    }

    /// The street or district that named it.
    async fn region(&self, ctx: &Context<'_>) -> Result<crate::graphql::org::Region> {
        crate::graphql::org::load_region(ctx, self.0.region_id).await
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::service::covenant::ChangeKind")]
pub enum ArticleChangeKind {
    Added,
    Removed,
    Changed,
    Unchanged,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::service::covenant::SpanKind")]
pub enum DiffSpanKind {
    Same,
    Added,
    Removed,
}

#[derive(SimpleObject)]
pub struct DiffSpan {
    pub kind: DiffSpanKind,
    pub text: String,
}

#[derive(SimpleObject)]
pub struct ArticleChange {
    pub kind: ArticleChangeKind,
    pub before: Option<Article>,
    pub after: Option<Article>,
    /// For a CHANGED article: the new body marked against the old one.
    pub body_diff: Vec<DiffSpan>,
}

impl From<covenant_service::ArticleChange> for ArticleChange {
    fn from(change: covenant_service::ArticleChange) -> Self {
        let view = |article| ArticleView {
            article,
            comment_count: 0,
        };
        ArticleChange {
            kind: ChangeKind::into(change.kind),
            before: change.before.map(|a| Article(view(a))),
            after: change.after.map(|a| Article(view(a))),
            body_diff: change
                .body_diff
                .into_iter()
                .map(|(kind, text)| DiffSpan {
                    kind: SpanKind::into(kind),
                    text,
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject)]
pub struct BuildingHouseholds {
    pub building: String,
    pub households: Vec<Household>,
}

pub struct RegionCovenant(pub RegionCovenantRow);

#[Object]
impl RegionCovenant {
    async fn community(&self) -> Community {
        Community(self.0.community.clone())
    }

    async fn covenant(&self) -> Option<Covenant> {
        self.0.covenant.clone().map(Covenant::new)
    }

    /// The status of the newest version (null: no covenant yet).
    async fn status(&self) -> Option<CovenantStatus> {
        self.0.latest.as_ref().map(|v| v.status.into())
    }

    /// The number of the version in force.
    async fn in_force_number(&self) -> Option<i32> {
        self.0.in_force.as_ref().map(|v| v.number)
    }

    async fn pledge_count(&self) -> i64 {
        self.0.stats.pledge_count
    }

    async fn household_coverage(&self) -> f64 {
        self.0.stats.household_coverage()
    }

    async fn filed_on(&self) -> Option<NaiveDate> {
        self.0.filing.as_ref().map(|f| f.filed_on)
    }

    async fn award_years(&self) -> Vec<i32> {
        self.0.awards.iter().map(|a| a.year).collect()
    }
}

#[derive(Default)]
pub struct CovenantQuery;

#[Object]
impl CovenantQuery {
    /// The community's covenant (null before the first draft). The version
    /// in force is readable without logging in.
    async fn covenant(&self, ctx: &Context<'_>, community_id: ID) -> Result<Option<Covenant>> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(
            covenant_service::for_community(&ctx.state().db, community_id)
                .await?
                .map(Covenant::new),
        )
    }

    async fn covenant_version(&self, ctx: &Context<'_>, id: ID) -> Result<CovenantVersion> {
        let id = parse_id(&id, "id")?;
        Ok(CovenantVersion(
            covenant_service::version_visible(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Two versions of one covenant, article by article (matched by chapter and title).
    async fn compare_covenant_versions(
        &self,
        ctx: &Context<'_>,
        from_version_id: ID,
        to_version_id: ID,
    ) -> Result<Vec<ArticleChange>> {
        let from = parse_id(&from_version_id, "fromVersionId")?;
        let to = parse_id(&to_version_id, "toVersionId")?;
        let changes = covenant_service::compare(&ctx.state().db, &ctx.actor(), from, to).await?;
        Ok(changes.into_iter().map(ArticleChange::from).collect())
    }

    /// Comments on a version, oldest first; of one article when `articleId` is given.
    async fn covenant_comments(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        article_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<CovenantComment>> {
        let version_id = parse_id(&version_id, "versionId")?;
        let article_id = parse_opt_id(&article_id, "articleId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows =
            covenant_service::comments(&ctx.state().db, &ctx.actor(), version_id, article_id, page)
                .await?;
        Ok(connection(rows, |c| c.id, CovenantComment))
    }

    /// Households with an active member that have not pledged to the version
    /// in force, by building (staff).
    async fn unpledged_households(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
    ) -> Result<Vec<BuildingHouseholds>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let groups =
            covenant_service::unpledged_households(&ctx.state().db, &ctx.actor(), community_id)
                .await?;
        Ok(groups
            .into_iter()
            .map(|(building, households)| BuildingHouseholds {
                building,
                households: households.into_iter().map(Household).collect(),
            })
            .collect())
    }

    /// The covenants of every community below a street or district (its officers).
    async fn region_covenants(
        &self,
        ctx: &Context<'_>,
        region_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<RegionCovenant>> {
        let region_id = parse_id(&region_id, "regionId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows =
            covenant_service::region_covenants(&ctx.state().db, &ctx.actor(), region_id, page)
                .await?;
        Ok(connection(rows, |r| r.community.id, RegionCovenant))
    }
}

#[derive(Default)]
pub struct CovenantMutation;

#[Object]
impl CovenantMutation {
    /// Staff draft a new version (the covenant is created with the first).
    async fn draft_covenant(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        articles: Vec<ArticleInput>,
    ) -> Result<CovenantVersion> {
        let community_id = parse_id(&community_id, "communityId")?;
        let articles: Vec<_> = articles.into_iter().map(Into::into).collect();
        Ok(CovenantVersion(
            covenant_service::draft(&ctx.state().db, &ctx.actor(), community_id, &articles).await?,
        ))
    }

    /// Replaces the articles of a draft.
    async fn update_covenant_draft(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        articles: Vec<ArticleInput>,
    ) -> Result<CovenantVersion> {
        let version_id = parse_id(&version_id, "versionId")?;
        let articles: Vec<_> = articles.into_iter().map(Into::into).collect();
        Ok(CovenantVersion(
            covenant_service::update_draft(&ctx.state().db, &ctx.actor(), version_id, &articles)
                .await?,
        ))
    }

    /// Opens a draft to residents' comments until `until`.
    async fn open_covenant_comment(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        until: DateTime<Utc>,
    ) -> Result<CovenantVersion> {
        let version_id = parse_id(&version_id, "versionId")?;
        Ok(CovenantVersion(
            covenant_service::open_comment(&ctx.state().db, &ctx.actor(), version_id, until)
                .await?,
        ))
    }

    /// A resident comments on a version in comment (on one article, or the whole).
    async fn comment_covenant(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        article_id: Option<ID>,
        body: String,
    ) -> Result<CovenantComment> {
        let version_id = parse_id(&version_id, "versionId")?;
        let article_id = parse_opt_id(&article_id, "articleId")?;
        Ok(CovenantComment(
            covenant_service::comment(&ctx.state().db, &ctx.actor(), version_id, article_id, &body)
                .await?,
        ))
    }

    /// Staff reply to a resident's comment.
    async fn reply_covenant_comment(
        &self,
        ctx: &Context<'_>,
        comment_id: ID,
        body: String,
    ) -> Result<CovenantComment> {
        let comment_id = parse_id(&comment_id, "commentId")?;
        Ok(CovenantComment(
            covenant_service::reply(&ctx.state().db, &ctx.actor(), comment_id, &body).await?,
        ))
    }

    /// The caller pledges to keep the version in force (once per version).
    async fn pledge_covenant(&self, ctx: &Context<'_>, community_id: ID) -> Result<Covenant> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(Covenant::new(
            covenant_service::pledge(&ctx.state().db, &ctx.actor(), community_id).await?,
        ))
    }

    /// The street acknowledges filing (备案) of the version in force; the date defaults to today.
    async fn file_covenant(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        filed_on: Option<NaiveDate>,
    ) -> Result<CovenantVersion> {
        let version_id = parse_id(&version_id, "versionId")?;
        let state = ctx.state();
        covenant_service::file(&state.db, &ctx.actor(), version_id, filed_on).await?;
        Ok(CovenantVersion(
            covenant_service::version_visible(&state.db, &ctx.actor(), version_id).await?,
        ))
    }

    /// A street or district officer rates a version (0–100); again replaces it.
    async fn rate_covenant(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        score: i32,
        comment: Option<String>,
    ) -> Result<CovenantRating> {
        let version_id = parse_id(&version_id, "versionId")?;
        Ok(CovenantRating(
            covenant_service::rate(
                &ctx.state().db,
                &ctx.actor(),
                version_id,
                score,
                comment.as_deref(),
            )
            .await?,
        ))
    }

    /// A street or district names the covenant excellent (优秀公约) for a year.
    async fn award_covenant(
        &self,
        ctx: &Context<'_>,
        covenant_id: ID,
        year: i32,
    ) -> Result<CovenantAward> {
        let covenant_id = parse_id(&covenant_id, "covenantId")?;
        Ok(CovenantAward(
            covenant_service::award(&ctx.state().db, &ctx.actor(), covenant_id, year).await?,
        ))
    }
}
