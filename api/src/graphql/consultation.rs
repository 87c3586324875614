//! Consultation (DESIGN §4): councils, proposals, meetings, ballots, the
//! live tally subscription, published results and evaluation.

use async_graphql::{Context, Enum, ID, MergedObject, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::consultation::{
    ballot, ballot_proxy, ballot_result_notice, council, proposal, setting,
};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id, to_id};
use crate::graphql::loaders::load_error;
use crate::graphql::org::{Community, User};
use crate::graphql::page::{LinliConnection, connection, page_request_for};
use crate::service::consultation::ballot::{self as ballot_service, OpenBallot, VisibleTally};
use crate::service::consultation::council as council_service;
use crate::service::consultation::meeting::{
    self as meeting_service, MeetingView, ScheduleMeeting,
};
use crate::service::consultation::proposal::{self as proposal_service, CommentView};
use crate::service::consultation::settings::{self as settings_service, SettingsChange};

// ---------- enums ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::proposal::ProposalStatus")]
pub enum ProposalStatus {
    /// 已提交: collecting seconds.
    Submitted,
    /// 附议达标: seconds reached the community's threshold; awaiting staff.
    Eligible,
    /// 已受理: on the topic pool, may go on a meeting agenda and to a vote.
    Accepted,
    /// 已合并 into another proposal (its seconds carried over).
    Merged,
    /// 已驳回, with a reason.
    Rejected,
    /// 表决中.
    InVote,
    /// 已通过.
    Passed,
    /// 未通过.
    Failed,
    /// 已办结: carried out; residents may rate it.
    Done,
}

/// Who votes on a ballot.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot::Electorate")]
pub enum Electorate {
    /// The council's members (still active members when the ballot opens).
    Council,
    /// One vote per household (一户一票); any active resident of it may cast or change it.
    Households,
    /// One vote per active resident.
    Residents,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot::PassRule")]
pub enum PassRule {
    /// FOR > half of the votes cast (abstentions are cast votes).
    MajorityOfCast,
    /// FOR ≥ two thirds of the electorate fixed at opening.
    TwoThirdsOfElectorate,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot::Choice")]
pub enum Choice {
    For,
    Against,
    Abstain,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot::BallotStatus")]
pub enum BallotStatus {
    /// Opens at `opensAt`; the electorate is fixed then.
    Scheduled,
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot::BallotTarget")]
pub enum BallotTargetKind {
    Proposal,
    CovenantVersion,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot_vote::VoteMethod")]
pub enum VoteMethod {
    Online,
    /// A paper ballot recorded by staff.
    Paper,
    /// Cast by a proxy holder (委托投票).
    Proxy,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::ballot_proxy::ProxyStatus")]
pub enum ProxyStatus {
    Active,
    Revoked,
    Used,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::meeting::MeetingMode")]
pub enum MeetingMode {
    InPerson,
    Online,
    Hybrid,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::consultation::setting::SecondingKind")]
pub enum SecondingKind {
    /// `secondingValue` residents must second.
    Residents,
    /// The seconders' households must be at least `secondingValue`% of the
    /// households that have an active member.
    HouseholdPercent,
}

// ---------- types ----------

pub struct Council(pub council::Model);

#[Object]
impl Council {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let users = council_service::council_members(&ctx.state().db, self.0.id).await?;
        Ok(users.into_iter().map(User::new).collect())
    }
    async fn community(&self, ctx: &Context<'_>) -> Result<Option<Community>> {
        Ok(ctx
            .loaders()
            .region
            .load_one(self.0.community_id)
            .await
            .map_err(load_error)?
            .map(Community))
    }
}

pub struct Proposal(pub proposal::Model);

#[Object]
impl Proposal {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn status(&self) -> ProposalStatus {
        self.0.status.into()
    }
    /// Seconds (附议) received, including those carried over from merged proposals.
    async fn second_count(&self) -> i32 {
        self.0.second_count
    }
    /// Whether the caller has seconded it.
    async fn seconded_by_me(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(proposal_service::has_seconded(&ctx.state().db, &ctx.actor(), self.0.id).await?)
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
    /// Why staff rejected it.
    async fn reject_reason(&self) -> Option<&str> {
        self.0.reject_reason.as_deref()
    }
    /// The proposal it was merged into.
    async fn merged_into(&self, ctx: &Context<'_>) -> Result<Option<Proposal>> {
        let Some(id) = self.0.merged_into_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .proposal
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Proposal))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn done_at(&self) -> Option<DateTime<Utc>> {
        self.0.done_at
    }
    /// Average rating (1–5) of how it was carried out; null until rated.
    async fn average_rating(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(proposal_service::rating_summary(&ctx.state().db, self.0.id)
            .await?
            .average)
    }
    /// Share of ratings that are 4 or 5 (satisfied / all ratings); null until rated.
    async fn satisfaction_share(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(proposal_service::rating_summary(&ctx.state().db, self.0.id)
            .await?
            .satisfaction_share)
    }
    async fn rating_count(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(proposal_service::rating_summary(&ctx.state().db, self.0.id)
            .await?
            .count as i32)
    }
    /// The deliberation thread, oldest first (replies name their `parentId`).
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<ProposalComment>> {
        let page = page_request_for(ctx, first, after)?;
        let found =
            proposal_service::list_comments(&ctx.state().db, &ctx.actor(), self.0.id, page).await?;
        Ok(connection(found, |c| c.comment.id, ProposalComment))
    }
    /// Ballots held on it, newest first.
    async fn ballots(&self, ctx: &Context<'_>) -> Result<Vec<Ballot>> {
        let found = ballot_service::ballots_on(
            &ctx.state().db,
            entity::consultation::ballot::BallotTarget::Proposal,
            self.0.id,
        )
        .await?;
        Ok(found.into_iter().map(Ballot).collect())
    }
}

pub struct ProposalComment(pub CommentView);

#[Object]
impl ProposalComment {
    async fn id(&self) -> ID {
        to_id(self.0.comment.id)
    }
    /// The text; null when staff have hidden it (staff still see it).
    async fn body(&self) -> Option<&str> {
        self.0.body()
    }
    async fn hidden(&self) -> bool {
        self.0.comment.hidden
    }
    /// Why it was hidden (staff only).
    async fn hidden_reason(&self) -> Option<&str> {
        self.0.hidden_reason()
    }
    /// How many members reported it (staff only; 0 for others).
    async fn report_count(&self) -> i32 {
        if self.0.moderator_view {
            self.0.comment.report_count
        } else {
            0
        }
    }
    async fn parent_id(&self) -> Option<ID> {
        self.0.comment.parent_id.map(to_id)
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.comment.author_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.comment.created_at
    }
}

pub struct Meeting(pub MeetingView);

#[Object]
impl Meeting {
    async fn id(&self) -> ID {
        to_id(self.0.meeting.id)
    }
    async fn title(&self) -> &str {
        &self.0.meeting.title
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.meeting.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.meeting.ends_at
    }
    async fn mode(&self) -> MeetingMode {
        self.0.meeting.mode.into()
    }
    async fn location(&self) -> Option<&str> {
        self.0.meeting.location.as_deref()
    }
    async fn online_url(&self) -> Option<&str> {
        self.0.meeting.online_url.as_deref()
    }
    /// Council members who must be present for the meeting to decide.
    async fn quorum(&self) -> i32 {
        self.0.meeting.quorum
    }
    /// Council members checked in.
    async fn attendee_count(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(meeting_service::attendee_count(&ctx.state().db, self.0.meeting.id).await? as i32)
    }
    /// attendeeCount ≥ quorum.
    async fn quorum_met(&self, ctx: &Context<'_>) -> Result<bool> {
        let present = meeting_service::attendee_count(&ctx.state().db, self.0.meeting.id).await?;
        Ok(present >= i64::from(self.0.meeting.quorum))
    }
    async fn attendees(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let users = meeting_service::attendees(&ctx.state().db, self.0.meeting.id).await?;
        Ok(users.into_iter().map(User::new).collect())
    }
    /// The proposals on the agenda, in order.
    async fn agenda(&self, ctx: &Context<'_>) -> Result<Vec<Proposal>> {
        let items = meeting_service::agenda(&ctx.state().db, self.0.meeting.id).await?;
        Ok(items.into_iter().map(Proposal).collect())
    }
    async fn council(&self, ctx: &Context<'_>) -> Result<Council> {
        Ok(Council(
            council_service::council(&ctx.state().db, &ctx.actor(), self.0.meeting.council_id)
                .await?,
        ))
    }
    /// The check-in code staff show at the meeting (staff only).
    async fn check_in_code(&self) -> Option<&str> {
        self.0.check_in_code()
    }
    /// Minutes: staff see drafts; members see them once published.
    async fn minutes(&self) -> Option<&str> {
        self.0.minutes()
    }
    async fn minutes_published_at(&self) -> Option<DateTime<Utc>> {
        self.0.meeting.minutes_published_at
    }
}

/// Counts of a ballot. While a secret ballot is open only turnout is shown:
/// the three counts are null.
#[derive(SimpleObject, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tally {
    pub for_count: Option<i32>,
    pub against_count: Option<i32>,
    pub abstain_count: Option<i32>,
    /// Voters (households on a HOUSEHOLDS ballot) who voted.
    pub turnout: i32,
}

impl From<VisibleTally> for Tally {
    fn from(t: VisibleTally) -> Self {
        Tally {
            for_count: t.for_count.map(|n| n as i32),
            against_count: t.against_count.map(|n| n as i32),
            abstain_count: t.abstain_count.map(|n| n as i32),
            turnout: t.turnout as i32,
        }
    }
}

/// The caller's part in a ballot.
#[derive(SimpleObject)]
pub struct MyVote {
    /// Whether the caller is in the electorate fixed at opening.
    pub eligible: bool,
    /// Whether the caller's vote (or household's) has been cast.
    pub voted: bool,
    /// The choice on an open ballot; always null on a secret one.
    pub choice: Option<Choice>,
    pub method: Option<VoteMethod>,
}

pub struct Ballot(pub ballot::Model);

#[Object]
impl Ballot {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn status(&self) -> BallotStatus {
        self.0.status.into()
    }
    /// Council members, households or active residents, fixed when the
    /// ballot opened (0 while SCHEDULED).
    async fn electorate_size(&self) -> i32 {
        self.0.electorate_size
    }
    async fn tally(&self, ctx: &Context<'_>) -> Result<Tally> {
        Ok(ballot_service::visible_tally(&ctx.state().db, &self.0)
            .await?
            .into())
    }
    /// Null until the ballot closes; false when turnout missed the quorum.
    async fn passed(&self) -> Option<bool> {
        self.0.passed
    }
    /// Whether turnout reached the quorum; null until the ballot closes.
    async fn quorum_met(&self) -> Option<bool> {
        self.0.quorum_met
    }
    async fn electorate(&self) -> Electorate {
        self.0.electorate.into()
    }
    async fn pass_rule(&self) -> PassRule {
        self.0.pass_rule.into()
    }
    /// Votes needed for the result to count.
    async fn quorum(&self) -> i32 {
        self.0.quorum
    }
    async fn secret(&self) -> bool {
        self.0.secret
    }
    async fn opens_at(&self) -> DateTime<Utc> {
        self.0.opens_at
    }
    async fn closes_at(&self) -> DateTime<Utc> {
        self.0.closes_at
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    async fn target_kind(&self) -> BallotTargetKind {
        self.0.target_kind.into()
    }
    async fn target_id(&self) -> ID {
        to_id(self.0.target_id)
    }
    /// The proposal voted on (null for a covenant ballot).
    async fn proposal(&self, ctx: &Context<'_>) -> Result<Option<Proposal>> {
        if self.0.target_kind != entity::consultation::ballot::BallotTarget::Proposal {
            return Ok(None);
        }
        Ok(ctx
            .loaders()
            .proposal
            .load_one(self.0.target_id)
            .await
            .map_err(load_error)?
            .map(Proposal))
    }
    async fn my_vote(&self, ctx: &Context<'_>) -> Result<MyVote> {
        let mine = ballot_service::my_vote(&ctx.state().db, &ctx.actor(), &self.0).await?;
        Ok(MyVote {
            eligible: mine.eligible,
            voted: mine.voted,
            choice: mine.choice.map(Choice::from),
            method: mine.method.map(VoteMethod::from),
        })
    }
    /// Proxies the caller gave or holds on this ballot.
    async fn my_proxies(&self, ctx: &Context<'_>) -> Result<Vec<BallotProxy>> {
        let found = ballot_service::my_proxies(&ctx.state().db, &ctx.actor(), self.0.id).await?;
        Ok(found.into_iter().map(BallotProxy).collect())
    }
}

pub struct BallotProxy(pub ballot_proxy::Model);

#[Object]
impl BallotProxy {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn ballot_id(&self) -> ID {
        to_id(self.0.ballot_id)
    }
    /// Who authorised.
    async fn principal(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.principal_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    /// Who votes for them.
    async fn holder(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.holder_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn status(&self) -> ProxyStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A published ballot result (阳光公示), shown for the community's notice period.
pub struct BallotResult(pub ballot_result_notice::Model);

#[Object]
impl BallotResult {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn ballot_id(&self) -> ID {
        to_id(self.0.ballot_id)
    }
    async fn target_kind(&self) -> BallotTargetKind {
        self.0.target_kind.into()
    }
    async fn target_id(&self) -> ID {
        to_id(self.0.target_id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn passed(&self) -> bool {
        self.0.passed
    }
    async fn quorum_met(&self) -> bool {
        self.0.quorum_met
    }
    async fn electorate_size(&self) -> i32 {
        self.0.electorate_size
    }
    async fn tally(&self) -> Tally {
        Tally {
            for_count: Some(self.0.for_count),
            against_count: Some(self.0.against_count),
            abstain_count: Some(self.0.abstain_count),
            turnout: self.0.turnout,
        }
    }
    /// turnout / electorateSize (0 when the electorate was empty).
    async fn turnout_rate(&self) -> f64 {
        if self.0.electorate_size == 0 {
            0.0
        } else {
            f64::from(self.0.turnout) / f64::from(self.0.electorate_size)
        }
    }
    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }
    async fn visible_until(&self) -> DateTime<Utc> {
        self.0.visible_until
    }
}

pub struct ConsultationSettings(pub setting::Model);

#[Object]
impl ConsultationSettings {
    async fn seconding_kind(&self) -> SecondingKind {
        self.0.seconding_kind.into()
    }
    /// Residents (RESIDENTS) or percent of households (HOUSEHOLD_PERCENT).
    async fn seconding_value(&self) -> i32 {
        self.0.seconding_value
    }
    /// Proxies one member may hold on one ballot.
    async fn max_proxies_per_holder(&self) -> i32 {
        self.0.max_proxies_per_holder
    }
    /// Days a ballot result stays published.
    async fn notice_days(&self) -> i32 {
        self.0.notice_days
    }
}

// ---------- queries ----------

#[derive(Default)]
pub struct ConsultationQuery;

#[Object]
impl ConsultationQuery {
    /// The community's proposals, newest first.
    async fn proposals(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        status: Option<ProposalStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Proposal>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let found = proposal_service::list_proposals(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            status.map(Into::into),
            page,
        )
        .await?;
        Ok(connection(found, |p| p.id, Proposal))
    }

    async fn proposal(&self, ctx: &Context<'_>, id: ID) -> Result<Proposal> {
        let id = parse_id(&id, "id")?;
        Ok(Proposal(
            proposal_service::proposal(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    async fn ballot(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Ballot>> {
        let id = parse_id(&id, "id")?;
        Ok(Some(Ballot(
            ballot_service::ballot(&ctx.state().db, &ctx.actor(), id).await?,
        )))
    }

    async fn councils(&self, ctx: &Context<'_>, community_id: ID) -> Result<Vec<Council>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let found = council_service::councils(&ctx.state().db, &ctx.actor(), community_id).await?;
        Ok(found.into_iter().map(Council).collect())
    }

    async fn meeting(&self, ctx: &Context<'_>, id: ID) -> Result<Meeting> {
        let id = parse_id(&id, "id")?;
        Ok(Meeting(
            meeting_service::meeting(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// The community's meetings, latest scheduled first.
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Meeting>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let found =
            meeting_service::list_meetings(&ctx.state().db, &ctx.actor(), community_id, page)
                .await?;
        Ok(connection(found, |m| m.meeting.id, Meeting))
    }

    /// Published ballot results (阳光公示), newest first; by default only
    /// those still within their notice period.
    async fn ballot_results(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        #[graphql(default = false)] include_expired: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<BallotResult>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let found = ballot_service::result_notices(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            include_expired,
            page,
        )
        .await?;
        Ok(connection(found, |n| n.id, BallotResult))
    }

    async fn consultation_settings(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
    ) -> Result<ConsultationSettings> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(ConsultationSettings(
            settings_service::consultation_settings(&ctx.state().db, &ctx.actor(), community_id)
                .await?,
        ))
    }
}

// ---------- mutations ----------

#[derive(MergedObject, Default)]
pub struct ConsultationMutation(ProposalMutation, DecisionMutation);

#[derive(Default)]
pub struct ProposalMutation;

#[Object]
impl ProposalMutation {
    /// Staff create a council of active members (user ids).
    async fn create_council(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        name: String,
        member_ids: Vec<ID>,
    ) -> Result<Council> {
        let community_id = parse_id(&community_id, "communityId")?;
        let members = parse_ids(&member_ids, "memberIds")?;
        Ok(Council(
            council_service::create_council(
                &ctx.state().db,
                &ctx.actor(),
                community_id,
                &name,
                &members,
            )
            .await?,
        ))
    }

    /// Staff replace a council's members.
    async fn set_council_members(
        &self,
        ctx: &Context<'_>,
        council_id: ID,
        member_ids: Vec<ID>,
    ) -> Result<Council> {
        let council_id = parse_id(&council_id, "councilId")?;
        let members = parse_ids(&member_ids, "memberIds")?;
        Ok(Council(
            council_service::set_council_members(
                &ctx.state().db,
                &ctx.actor(),
                council_id,
                &members,
            )
            .await?,
        ))
    }

    /// A resident raises a proposal (民事民提).
    async fn submit_proposal(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        description: String,
    ) -> Result<Proposal> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(Proposal(
            proposal_service::submit_proposal(
                &ctx.state().db,
                &ctx.actor(),
                community_id,
                &title,
                &description,
            )
            .await?,
        ))
    }

    /// The author edits their proposal until its first second.
    async fn edit_proposal(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        title: String,
        description: String,
    ) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::edit_proposal(
                &ctx.state().db,
                &ctx.actor(),
                id,
                &title,
                &description,
            )
            .await?,
        ))
    }

    /// A resident seconds (附议) someone else's proposal, once.
    async fn second_proposal(&self, ctx: &Context<'_>, proposal_id: ID) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::second_proposal(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Staff accept an ELIGIBLE proposal onto the topic pool.
    async fn accept_proposal(&self, ctx: &Context<'_>, proposal_id: ID) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::accept_proposal(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Staff reject a proposal not yet put to a vote.
    async fn reject_proposal(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        reason: String,
    ) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::reject_proposal(&ctx.state().db, &ctx.actor(), id, &reason).await?,
        ))
    }

    /// Staff merge a proposal into another; its seconds carry over. Returns
    /// the merged (source) proposal.
    async fn merge_proposal(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        into_proposal_id: ID,
    ) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        let into = parse_id(&into_proposal_id, "intoProposalId")?;
        Ok(Proposal(
            proposal_service::merge_proposal(&ctx.state().db, &ctx.actor(), id, into).await?,
        ))
    }

    /// A resident comments (民事民议), or replies to a comment with `parentId`.
    async fn comment_proposal(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        body: String,
        parent_id: Option<ID>,
    ) -> Result<ProposalComment> {
        let id = parse_id(&proposal_id, "proposalId")?;
        let parent = parse_opt_id(&parent_id, "parentId")?;
        Ok(ProposalComment(
            proposal_service::comment_proposal(&ctx.state().db, &ctx.actor(), id, &body, parent)
                .await?,
        ))
    }

    /// Staff hide a comment; it is kept with the reason for the audit.
    async fn hide_comment(
        &self,
        ctx: &Context<'_>,
        comment_id: ID,
        reason: String,
    ) -> Result<ProposalComment> {
        let id = parse_id(&comment_id, "commentId")?;
        Ok(ProposalComment(
            proposal_service::hide_comment(&ctx.state().db, &ctx.actor(), id, &reason).await?,
        ))
    }

    /// A member reports a comment to staff.
    async fn report_comment(
        &self,
        ctx: &Context<'_>,
        comment_id: ID,
        reason: String,
    ) -> Result<ProposalComment> {
        let id = parse_id(&comment_id, "commentId")?;
        Ok(ProposalComment(
            proposal_service::report_comment(&ctx.state().db, &ctx.actor(), id, &reason).await?,
        ))
    }

    /// Staff mark a PASSED proposal as carried out.
    async fn mark_proposal_done(&self, ctx: &Context<'_>, proposal_id: ID) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::mark_done(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// A resident rates a DONE proposal 1–5 (民事民评); rating again replaces it.
    async fn rate_proposal(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        score: i32,
        comment: Option<String>,
    ) -> Result<Proposal> {
        let id = parse_id(&proposal_id, "proposalId")?;
        Ok(Proposal(
            proposal_service::rate_proposal(
                &ctx.state().db,
                &ctx.actor(),
                id,
                score,
                comment.as_deref(),
            )
            .await?,
        ))
    }

    /// Staff set the seconding threshold and other consultation settings.
    async fn update_consultation_settings(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        seconding_kind: SecondingKind,
        seconding_value: i32,
        max_proxies_per_holder: Option<i32>,
        notice_days: Option<i32>,
    ) -> Result<ConsultationSettings> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(ConsultationSettings(
            settings_service::update_consultation_settings(
                &ctx.state().db,
                &ctx.actor(),
                community_id,
                SettingsChange {
                    seconding_kind: seconding_kind.into(),
                    seconding_value,
                    max_proxies_per_holder,
                    notice_days,
                },
            )
            .await?,
        ))
    }
}

#[derive(Default)]
pub struct DecisionMutation;

#[Object]
impl DecisionMutation {
    /// Staff schedule a council meeting with an agenda of accepted proposals.
    #[allow(clippy::too_many_arguments)]
    async fn schedule_meeting(
        &self,
        ctx: &Context<'_>,
        council_id: ID,
        title: String,
        starts_at: DateTime<Utc>,
        proposal_ids: Vec<ID>,
        quorum: i32,
        ends_at: Option<DateTime<Utc>>,
        #[graphql(default_with = "MeetingMode::InPerson")] mode: MeetingMode,
        location: Option<String>,
        online_url: Option<String>,
    ) -> Result<Meeting> {
        let council_id = parse_id(&council_id, "councilId")?;
        let proposal_ids = parse_ids(&proposal_ids, "proposalIds")?;
        Ok(Meeting(
            meeting_service::schedule_meeting(
                &ctx.state().db,
                &ctx.actor(),
                ScheduleMeeting {
                    council_id,
                    title: &title,
                    starts_at,
                    ends_at,
                    mode: mode.into(),
                    location: location.as_deref(),
                    online_url: online_url.as_deref(),
                    proposal_ids: &proposal_ids,
                    quorum,
                },
            )
            .await?,
        ))
    }

    /// A council member checks in with the code staff show; or staff check in
    /// a member who is present (`userId`).
    async fn check_in_meeting(
        &self,
        ctx: &Context<'_>,
        meeting_id: ID,
        code: Option<String>,
        user_id: Option<ID>,
    ) -> Result<Meeting> {
        let id = parse_id(&meeting_id, "meetingId")?;
        let member = parse_opt_id(&user_id, "userId")?;
        Ok(Meeting(
            meeting_service::check_in(&ctx.state().db, &ctx.actor(), id, code.as_deref(), member)
                .await?,
        ))
    }

    /// Staff write the minutes, and publish them to members with `publish`.
    async fn record_meeting_minutes(
        &self,
        ctx: &Context<'_>,
        meeting_id: ID,
        minutes: String,
        #[graphql(default = false)] publish: bool,
    ) -> Result<Meeting> {
        let id = parse_id(&meeting_id, "meetingId")?;
        Ok(Meeting(
            meeting_service::record_minutes(&ctx.state().db, &ctx.actor(), id, &minutes, publish)
                .await?,
        ))
    }

    /// Staff open a ballot on an ACCEPTED proposal (or, with the covenant
    /// domain, a covenant version). `quorum` is the number of votes needed
    /// for the result to count. With a future `opensAt` it is SCHEDULED.
    /// A COUNCIL ballot uses `councilId`, else the council of the latest
    /// meeting with the proposal on its agenda, else the only council.
    #[allow(clippy::too_many_arguments)]
    async fn open_ballot(
        &self,
        ctx: &Context<'_>,
        proposal_id: Option<ID>,
        covenant_version_id: Option<ID>,
        electorate: Electorate,
        pass_rule: PassRule,
        quorum: i32,
        secret: bool,
        closes_at: DateTime<Utc>,
        opens_at: Option<DateTime<Utc>>,
        council_id: Option<ID>,
    ) -> Result<Ballot> {
        let input = OpenBallot {
            proposal_id: parse_opt_id(&proposal_id, "proposalId")?,
            covenant_version_id: parse_opt_id(&covenant_version_id, "covenantVersionId")?,
            council_id: parse_opt_id(&council_id, "councilId")?,
            electorate: electorate.into(),
            pass_rule: pass_rule.into(),
            quorum,
            secret,
            opens_at,
            closes_at,
        };
        Ok(Ballot(
            ballot_service::open_ballot(&ctx.state().db, &ctx.actor(), input).await?,
        ))
    }

    /// A voter votes (民事民决); on an open ballot they may change it until it
    /// closes. With `onBehalfOf`, a proxy holder votes for the member who
    /// authorised them.
    async fn cast_vote(
        &self,
        ctx: &Context<'_>,
        ballot_id: ID,
        choice: Choice,
        on_behalf_of: Option<ID>,
    ) -> Result<Ballot> {
        let id = parse_id(&ballot_id, "ballotId")?;
        let principal = parse_opt_id(&on_behalf_of, "onBehalfOf")?;
        let state = ctx.state();
        Ok(Ballot(
            ballot_service::cast_vote(
                &state.db,
                ctx.tally_hub(),
                &ctx.actor(),
                id,
                choice.into(),
                principal,
            )
            .await?,
        ))
    }

    /// Staff record a paper ballot for a voter (user id) who cannot use the phone.
    async fn record_paper_vote(
        &self,
        ctx: &Context<'_>,
        ballot_id: ID,
        voter_id: ID,
        choice: Choice,
    ) -> Result<Ballot> {
        let id = parse_id(&ballot_id, "ballotId")?;
        let voter = parse_id(&voter_id, "voterId")?;
        let state = ctx.state();
        Ok(Ballot(
            ballot_service::record_paper_vote(
                &state.db,
                ctx.tally_hub(),
                &ctx.actor(),
                id,
                voter,
                choice.into(),
            )
            .await?,
        ))
    }

    /// A voter authorises another member (user id) to vote for them on this ballot.
    async fn grant_proxy(
        &self,
        ctx: &Context<'_>,
        ballot_id: ID,
        holder_id: ID,
    ) -> Result<BallotProxy> {
        let id = parse_id(&ballot_id, "ballotId")?;
        let holder = parse_id(&holder_id, "holderId")?;
        Ok(BallotProxy(
            ballot_service::grant_proxy(&ctx.state().db, &ctx.actor(), id, holder).await?,
        ))
    }

    /// The voter takes back a proxy not yet used.
    async fn revoke_proxy(&self, ctx: &Context<'_>, proxy_id: ID) -> Result<BallotProxy> {
        let id = parse_id(&proxy_id, "proxyId")?;
        Ok(BallotProxy(
            ballot_service::revoke_proxy(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// Staff close an open ballot now: the result is computed and published.
    async fn close_ballot(&self, ctx: &Context<'_>, ballot_id: ID) -> Result<Ballot> {
        let id = parse_id(&ballot_id, "ballotId")?;
        let state = ctx.state();
        Ok(Ballot(
            ballot_service::close_ballot(&state.db, ctx.tally_hub(), &ctx.actor(), id).await?,
        ))
    }
}

fn parse_ids(ids: &[ID], field: &'static str) -> Result<Vec<uuid::Uuid>> {
    ids.iter().map(|id| parse_id(id, field)).collect()
}

// ---------- subscription ----------

#[derive(Default)]
pub struct ConsultationSubscription;

#[Subscription]
impl ConsultationSubscription {
    /// The tally of a ballot, pushed now and whenever a vote arrives (from
    /// this server or, on PostgreSQL, any replica); a secret ballot shows
    /// turnout only until it closes. The stream ends after the closing tally.
    async fn ballot_tally(
        &self,
        ctx: &Context<'_>,
        ballot_id: ID,
    ) -> Result<impl Stream<Item = Tally> + use<>> {
        let id = parse_id(&ballot_id, "ballotId")?;
        let state = ctx.state().clone();
        // Who may see the ballot may watch it; checked once, now.
        let found = ballot_service::ballot(&state.db, &ctx.actor(), id).await?;
        let receiver = ctx.tally_hub().subscribe();
        let first: Tally = ballot_service::visible_tally(&state.db, &found)
            .await?
            .into();
        let closed = found.status == entity::consultation::ballot::BallotStatus::Closed;
        struct Watch {
            db: sea_orm::DatabaseConnection,
            receiver: tokio::sync::broadcast::Receiver<uuid::Uuid>,
            pending: Option<Tally>,
            last: Option<Tally>,
            done: bool,
        }
        let watch = Watch {
            db: state.db.clone(),
            receiver,
            pending: Some(first),
            last: None,
            done: closed,
        };
        Ok(futures_util::stream::unfold(
            watch,
            move |mut w| async move {
                if let Some(tally) = w.pending.take() {
                    w.last = Some(tally);
                    return Some((tally, w));
                }
                if w.done {
                    return None;
                }
                loop {
                    match w.receiver.recv().await {
                        Ok(changed) if changed != id => continue,
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                    let found = match ballot_service::current_ballot(&w.db, id).await {
                        Ok(found) => found,
                        Err(_) => return None,
                    };
                    let tally: Tally = match ballot_service::visible_tally(&w.db, &found).await {
                        Ok(t) => t.into(),
                        Err(_) => return None,
                    };
                    w.done = found.status == entity::consultation::ballot::BallotStatus::Closed;
                    if w.last == Some(tally) && !w.done {
                        continue;
                    }
                    w.last = Some(tally);
                    return Some((tally, w));
                }
            },
        ))
    }
}
