//! Ballots (表决): on a proposal or a covenant version, with an electorate
//! (COUNCIL, HOUSEHOLDS, RESIDENTS) fixed when the ballot opens.
//!
//! How the database keeps the count honest:
//! - `ballot_elector` is the electorate snapshot: who may vote, and the unit
//!   (their household on a HOUSEHOLDS ballot, else themself) they vote for.
//!   Someone who joins later is not in it and cannot vote.
//! - `ballot_vote` has one row per (ballot, unit): its primary key makes each
//!   unit count once, whatever arrives concurrently. On an open ballot a later
//!   vote replaces the earlier one (an upsert that only replaces a vote cast
//!   the same way: online, paper or proxy never mix).
//! - A secret ballot stores who voted in `ballot_vote` with `choice` NULL, and
//!   the choice only in `ballot_secret_tally`, three counters that every vote
//!   rewrites (each counter gets + 0 or + 1). No row per choice exists, so no
//!   key, timestamp, insertion order or transaction id ties a choice to a
//!   voter; the audit entry of a secret vote names the voter and never the choice.
//! - A vote reads the ballot row FOR SHARE (PostgreSQL) and closing locks it
//!   FOR UPDATE, so no vote commits into a ballot after its tally is taken;
//!   on SQLite every write transaction is serialised (BEGIN IMMEDIATE).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::consultation::ballot::{
    self, BallotStatus, BallotTarget, Choice, Electorate, PassRule,
};
use entity::consultation::ballot_proxy::{self, ProxyStatus};
use entity::consultation::ballot_vote::{self, VoteMethod};
use entity::consultation::proposal::ProposalStatus;
use entity::consultation::{
    ballot_elector, ballot_result_notice, ballot_secret_tally, council, council_member, meeting,
    meeting_agenda_item,
};
use entity::org::membership::{self, MembershipStatus};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, Role, Standing};
use crate::service::consultation::tally_feed::{self, TallyPublisher};
use crate::service::consultation::{outbox, proposal, settings};
use crate::service::covenant;
use crate::service::page::{Order, Page, PageRequest, paginate};

/// The longest a ballot may stay open.
pub const MAX_BALLOT_DAYS: i64 = 90;

// ---------- counting ----------

/// The counts of one ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub for_count: i64,
    pub against_count: i64,
    pub abstain_count: i64,
    /// Units (voters or households) that voted.
    pub turnout: i64,
}

/// A tally as the rules let it be seen: a secret ballot shows only its
/// turnout until it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisibleTally {
    pub for_count: Option<i64>,
    pub against_count: Option<i64>,
    pub abstain_count: Option<i64>,
    pub turnout: i64,
}

/// The outcome: the result counts only when turnout reaches the quorum.
/// MAJORITY_OF_CAST: FOR > half the votes cast (abstentions are cast votes).
/// TWO_THIRDS_OF_ELECTORATE: FOR ≥ ⅔ of the electorate fixed at opening.
pub fn decide(
    pass_rule: PassRule,
    quorum: i64,
    electorate_size: i64,
    tally: &Tally,
) -> (bool, bool) {
    let quorum_met = tally.turnout >= quorum;
    let rule_met = match pass_rule {
        PassRule::MajorityOfCast => 2 * tally.for_count > tally.turnout,
        PassRule::TwoThirdsOfElectorate => 3 * tally.for_count >= 2 * electorate_size,
    };
    (quorum_met, quorum_met && rule_met)
}

async fn turnout_of<C: ConnectionTrait>(db: &C, ballot_id: Uuid) -> ServiceResult<i64> {
    Ok(ballot_vote::Entity::find()
        .filter(ballot_vote::Column::BallotId.eq(ballot_id))
        .count(db)
        .await? as i64)
}

/// The live counts, from the votes (open ballot) or the counters (secret).
pub(crate) async fn count_votes<C: ConnectionTrait>(
    db: &C,
    found: &ballot::Model,
) -> ServiceResult<Tally> {
    let turnout = turnout_of(db, found.id).await?;
    if found.secret {
        let counters = ballot_secret_tally::Entity::find_by_id(found.id)
            .one(db)
            .await?
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("secret tally row missing")))?;
        return Ok(Tally {
            for_count: i64::from(counters.for_count),
            against_count: i64::from(counters.against_count),
            abstain_count: i64::from(counters.abstain_count),
            turnout,
        });
    }
    let mut tally = Tally {
        turnout,
        ..Tally::default()
    };
    for choice in [Choice::For, Choice::Against, Choice::Abstain] {
        let n = ballot_vote::Entity::find()
            .filter(ballot_vote::Column::BallotId.eq(found.id))
            .filter(ballot_vote::Column::Choice.eq(choice))
            .count(db)
            .await? as i64;
        match choice {
            Choice::For => tally.for_count = n,
            Choice::Against => tally.against_count = n,
            Choice::Abstain => tally.abstain_count = n,
        }
    }
    Ok(tally)
}

/// The tally as anyone allowed to see the ballot may see it.
pub async fn visible_tally<C: ConnectionTrait>(
    db: &C,
    found: &ballot::Model,
) -> ServiceResult<VisibleTally> {
    if found.status == BallotStatus::Closed {
        return Ok(VisibleTally {
            for_count: found.for_count.map(i64::from),
            against_count: found.against_count.map(i64::from),
            abstain_count: found.abstain_count.map(i64::from),
            turnout: i64::from(found.turnout.unwrap_or_default()),
        });
    }
    if found.secret {
        return Ok(VisibleTally {
            for_count: None,
            against_count: None,
            abstain_count: None,
            turnout: turnout_of(db, found.id).await?,
        });
    }
    let tally = count_votes(db, found).await?;
    Ok(VisibleTally {
        for_count: Some(tally.for_count),
        against_count: Some(tally.against_count),
        abstain_count: Some(tally.abstain_count),
        turnout: tally.turnout,
    })
}

// ---------- reading ----------

pub(crate) async fn find_ballot<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ServiceResult<ballot::Model> {
    ballot::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("表决"))
}

async fn load(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<(ballot::Model, Standing)> {
    actor.user_id()?;
    let found = find_ballot(db, id).await?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound("表决"));
    }
    Ok((found, standing))
}

pub async fn ballot(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<ballot::Model> {
    Ok(load(db, actor, id).await?.0)
}

/// A ballot as it is now, for the live tally (the subscriber's right to see
/// it was checked when they subscribed).
pub async fn current_ballot(db: &DatabaseConnection, id: Uuid) -> ServiceResult<ballot::Model> {
    find_ballot(db, id).await
}

/// The ballots held on one proposal, newest first.
pub async fn ballots_on(
    db: &DatabaseConnection,
    kind: BallotTarget,
    target_id: Uuid,
) -> ServiceResult<Vec<ballot::Model>> {
    Ok(ballot::Entity::find()
        .filter(ballot::Column::TargetKind.eq(kind))
        .filter(ballot::Column::TargetId.eq(target_id))
        .order_by_desc(ballot::Column::Id)
        .all(db)
        .await?)
}

/// What the caller did on a ballot: whether their unit voted, how, and (on
/// an open ballot only) the choice.
#[derive(Debug, Clone)]
pub struct MyVote {
    pub voted: bool,
    pub eligible: bool,
    pub choice: Option<Choice>,
    pub method: Option<VoteMethod>,
}

pub async fn my_vote(
    db: &DatabaseConnection,
    actor: &Actor,
    found: &ballot::Model,
) -> ServiceResult<MyVote> {
    let user_id = actor.user_id()?;
    let Some(elector) = ballot_elector::Entity::find_by_id((found.id, user_id))
        .one(db)
        .await?
    else {
        return Ok(MyVote {
            voted: false,
            eligible: false,
            choice: None,
            method: None,
        });
    };
    let vote = ballot_vote::Entity::find_by_id((found.id, elector.unit_id))
        .one(db)
        .await?;
    Ok(MyVote {
        voted: vote.is_some(),
        eligible: true,
        choice: vote.as_ref().and_then(|v| v.choice),
        method: vote.map(|v| v.method),
    })
}

/// Published results (阳光公示) still within their notice period, newest first.
pub async fn result_notices(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    include_expired: bool,
    page: PageRequest,
) -> ServiceResult<Page<ballot_result_notice::Model>> {
    policy::authorize(db, actor, community_id, Permission::ViewConsultation).await?;
    let mut condition =
        sea_orm::Condition::all().add(ballot_result_notice::Column::CommunityId.eq(community_id));
    if !include_expired {
        condition = condition.add(ballot_result_notice::Column::VisibleUntil.gt(Utc::now()));
    }
    Ok(paginate(
        db,
        ballot_result_notice::Entity::find().filter(condition),
        Order::NewestFirst,
        page,
    )
    .await?)
}

// ---------- opening ----------

pub struct OpenBallot {
    pub proposal_id: Option<Uuid>,
    pub covenant_version_id: Option<Uuid>,
    pub council_id: Option<Uuid>,
    pub electorate: Electorate,
    pub pass_rule: PassRule,
    pub quorum: i32,
    pub secret: bool,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: DateTime<Utc>,
}

/// Staff open a ballot on an ACCEPTED proposal (it moves to IN_VOTE). With
/// no `opens_at`, or one already past, it opens now and its electorate is
/// fixed now; otherwise it is SCHEDULED and the closing task opens it.
/// Validate → plan → apply.
pub async fn open_ballot(
    db: &DatabaseConnection,
    actor: &Actor,
    input: OpenBallot,
) -> ServiceResult<ballot::Model> {
    let valid = validate_ballot(db, actor, input).await?;
    let plan = plan_ballot(valid, Uuid::now_v7());
    apply_ballot(db, plan).await
}

/// A ballot request that passed every check made before the transaction.
struct ValidBallot {
    input: OpenBallot,
    target: Target,
    opened_by: Uuid,
    council_id: Option<Uuid>,
    opens_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// The target, the caller's standing, the electorate, the voting window and
/// quorum, the council (for a council vote) and the proposal's status.
async fn validate_ballot(
    db: &DatabaseConnection,
    actor: &Actor,
    input: OpenBallot,
) -> ServiceResult<ValidBallot> {
    actor.user_id()?;
    let target = find_target(db, &input).await?;
    let community_id = target.community_id();
    let standing = policy::standing(db, actor, community_id).await?;
    if !standing.allows(Permission::ViewConsultation) {
        return Err(ServiceError::NotFound(target.noun()));
    }
    if !standing.allows(Permission::ManageConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    // A covenant is the whole community's: its councils do not adopt it.
    if matches!(target, Target::Covenant(_)) && input.electorate == Electorate::Council {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "electorate",
            "公约须由全体居民或各户表决，不能只由议事会表决",
        ));
    }
    let now = Utc::now();
    let opens_at = ballot_window(input.opens_at, input.closes_at, now)?;
    if input.quorum < 1 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quorum",
            "法定投票数至少为1",
        ));
    }
    let council_id = match (&target, input.electorate) {
        (Target::Proposal(p), Electorate::Council) => {
            Some(council_for(db, community_id, p.id, input.council_id).await?)
        }
        _ => None,
    };
    if let Target::Proposal(p) = &target
        && p.status != ProposalStatus::Accepted
    {
        return Err(ServiceError::invalid_state(
            Reason::ProposalStatusWrong,
            "只有已受理的议题才能发起表决",
        ));
    }
    Ok(ValidBallot {
        input,
        target,
        opened_by: standing.user_id,
        council_id,
        opens_at,
        now,
    })
}

/// The proposal or covenant version the ballot decides: exactly one named.
async fn find_target(db: &DatabaseConnection, input: &OpenBallot) -> ServiceResult<Target> {
    Ok(match (input.proposal_id, input.covenant_version_id) {
        (Some(id), None) => Target::Proposal(proposal::find_proposal(db, id).await?),
        (None, Some(id)) => Target::Covenant(
            entity::covenant::covenant_version::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(ServiceError::NotFound("公约版本"))?,
        ),
        _ => {
            return Err(ServiceError::bad_input(
                Reason::FieldRequired,
                "proposalId",
                "请指定一个议题或一个公约版本（二选一）",
            ));
        }
    })
}

/// Pure: when the ballot opens (`requested`, or `now` when none or already
/// past), refused unless it closes after that and within
/// `MAX_BALLOT_DAYS`.
fn ballot_window(
    requested: Option<DateTime<Utc>>,
    closes_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<DateTime<Utc>> {
    let opens_at = std::cmp::max(requested.unwrap_or(now), now);
    if closes_at <= opens_at {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "closesAt",
            "截止时间须晚于开始时间",
        ));
    }
    if closes_at - opens_at > Duration::days(MAX_BALLOT_DAYS) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "closesAt",
            format!("表决期不能超过{MAX_BALLOT_DAYS}天"),
        ));
    }
    Ok(opens_at)
}

/// What opening a ballot writes: its row (SCHEDULED when it opens later,
/// its electorate then fixed by the closing task) and what it decides.
struct BallotPlan {
    row: ballot::Model,
    scheduled: bool,
    target: Target,
}

/// Pure: the ballot row for a validated request.
fn plan_ballot(valid: ValidBallot, id: Uuid) -> BallotPlan {
    let scheduled = valid.opens_at > valid.now;
    let input = valid.input;
    let row = ballot::Model {
        id,
        community_id: valid.target.community_id(),
        target_kind: valid.target.kind(),
        target_id: valid.target.id(),
        council_id: valid.council_id,
        electorate: input.electorate,
        pass_rule: input.pass_rule,
        quorum: input.quorum,
        secret: input.secret,
        status: if scheduled {
            BallotStatus::Scheduled
        } else {
            BallotStatus::Open
        },
        opens_at: valid.opens_at,
        closes_at: input.closes_at,
        electorate_size: 0,
        opened_by: valid.opened_by,
        closed_at: None,
        closed_by: None,
        passed: None,
        quorum_met: None,
        for_count: None,
        against_count: None,
        abstain_count: None,
        turnout: None,
        created_at: valid.now,
    };
    BallotPlan {
        row,
        scheduled,
        target: valid.target,
    }
}

/// Pure: a ballot needs someone to vote, and no more votes for its quorum
/// than there are voters.
fn check_electorate(size: i32, quorum: i32) -> ServiceResult<()> {
    if size == 0 {
        return Err(ServiceError::invalid_state(
            Reason::NoEligibleVoters,
            "没有符合条件的投票人，无法发起表决",
        ));
    }
    if quorum > size {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quorum",
            format!("法定投票数不能超过投票人总数（{size}）"),
        ));
    }
    Ok(())
}

/// Writes the plan in one transaction: the ballot (and its secret tally),
/// the electorate checked, the target put to the vote, the electorate fixed
/// when it opens now, the audit entry and the notice.
async fn apply_ballot(db: &DatabaseConnection, plan: BallotPlan) -> ServiceResult<ballot::Model> {
    let BallotPlan {
        row,
        scheduled,
        target,
    } = plan;
    let opened_by = row.opened_by;
    let txn = begin_write(db).await?;
    // Every column set, as a new row's are.
    let created = ballot::ActiveModel::from(row)
        .reset_all()
        .insert(&txn)
        .await?;
    if created.secret {
        ballot_secret_tally::ActiveModel {
            ballot_id: Set(created.id),
            community_id: Set(created.community_id),
            for_count: Set(0),
            against_count: Set(0),
            abstain_count: Set(0),
        }
        .insert(&txn)
        .await?;
    }
    let size = eligible_units(&txn, &created).await?.len() as i32;
    check_electorate(size, created.quorum)?;
    match &target {
        Target::Proposal(p) => {
            proposal::move_status(
                &txn,
                p.id,
                ProposalStatus::Accepted,
                ProposalStatus::InVote,
                Some(opened_by),
                "put_to_vote",
            )
            .await?;
        }
        Target::Covenant(v) => {
            covenant::begin_vote(&txn, v.id, created.community_id, created.id, opened_by).await?;
        }
    }
    let saved = if scheduled {
        created
    } else {
        fix_electorate(&txn, &created).await?
    };
    audit::record(
        &txn,
        AuditEntry::new("ballot", saved.id, "open")
            .community(saved.community_id)
            .actor(Some(opened_by))
            .change(None, Some(ballot_json(&saved))),
    )
    .await?;
    outbox::enqueue(
        &txn,
        saved.community_id,
        if scheduled {
            "BALLOT_SCHEDULED"
        } else {
            "BALLOT_OPENED"
        },
        json!({"ballotId": saved.id, "targetId": target.id(), "title": target.title(),
               "opensAt": saved.opens_at, "closesAt": saved.closes_at}),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// What a ballot decides.
enum Target {
    Proposal(entity::consultation::proposal::Model),
    Covenant(entity::covenant::covenant_version::Model),
}

impl Target {
    fn community_id(&self) -> Uuid {
        match self {
            Target::Proposal(p) => p.community_id,
            Target::Covenant(v) => v.community_id,
        }
    }

    fn id(&self) -> Uuid {
        match self {
            Target::Proposal(p) => p.id,
            Target::Covenant(v) => v.id,
        }
    }

    fn kind(&self) -> BallotTarget {
        match self {
            Target::Proposal(_) => BallotTarget::Proposal,
            Target::Covenant(_) => BallotTarget::CovenantVersion,
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            Target::Proposal(_) => "议题",
            Target::Covenant(_) => "公约版本",
        }
    }

    fn title(&self) -> String {
        match self {
            Target::Proposal(p) => p.title.clone(),
            Target::Covenant(v) => format!("社区居民公约第{}版", v.number),
        }
    }
}

/// The council that votes: the one named, else the council of the latest
/// meeting with the proposal on its agenda, else the community's only council.
async fn council_for(
    db: &DatabaseConnection,
    community_id: Uuid,
    proposal_id: Uuid,
    named: Option<Uuid>,
) -> ServiceResult<Uuid> {
    if let Some(id) = named {
        let found = council::Entity::find_by_id(id).one(db).await?;
        return match found {
            Some(c) if c.community_id == community_id => Ok(c.id),
            _ => Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "councilId",
                "议事会不存在",
            )),
        };
    }
    let meetings: Vec<Uuid> = meeting_agenda_item::Entity::find()
        .select_only()
        .column(meeting_agenda_item::Column::MeetingId)
        .filter(meeting_agenda_item::Column::ProposalId.eq(proposal_id))
        .into_tuple()
        .all(db)
        .await?;
    if !meetings.is_empty()
        && let Some(latest) = meeting::Entity::find()
            .filter(meeting::Column::Id.is_in(meetings))
            .order_by_desc(meeting::Column::StartsAt)
            .one(db)
            .await?
    {
        return Ok(latest.council_id);
    }
    let councils: Vec<Uuid> = council::Entity::find()
        .select_only()
        .column(council::Column::Id)
        .filter(council::Column::CommunityId.eq(community_id))
        .limit(2)
        .into_tuple()
        .all(db)
        .await?;
    match councils.as_slice() {
        [only] => Ok(*only),
        [] => Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "councilId",
            "本社区还没有议事会",
        )),
        _ => Err(ServiceError::bad_input(
            Reason::FieldRequired,
            "councilId",
            "本社区有多个议事会，请指定由哪个议事会表决",
        )),
    }
}

/// (user, unit) pairs eligible now: ACTIVE residents (RESIDENTS), ACTIVE
/// residents with a household, voting for it (HOUSEHOLDS), or the council's
/// members who are still ACTIVE members (COUNCIL).
async fn eligible_voters<C: ConnectionTrait>(
    db: &C,
    found: &ballot::Model,
) -> ServiceResult<Vec<(Uuid, Uuid)>> {
    let members: Vec<(Uuid, i32, Option<Uuid>)> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .column(membership::Column::Roles)
        .column(membership::Column::HouseholdId)
        .filter(membership::Column::CommunityId.eq(found.community_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .order_by_asc(membership::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    let resident = |roles: i32| roles & Role::Resident.bit() != 0;
    Ok(match found.electorate {
        Electorate::Residents => members
            .into_iter()
            .filter(|(_, roles, _)| resident(*roles))
            .map(|(user, _, _)| (user, user))
            .collect(),
        Electorate::Households => members
            .into_iter()
            .filter(|(_, roles, _)| resident(*roles))
            .filter_map(|(user, _, household)| household.map(|h| (user, h)))
            .collect(),
        Electorate::Council => {
            let council_id = found.council_id.ok_or_else(|| {
                ServiceError::internal(anyhow::anyhow!("council ballot without council"))
            })?;
            let seated: BTreeSet<Uuid> = council_member::Entity::find()
                .select_only()
                .column(council_member::Column::UserId)
                .filter(council_member::Column::CouncilId.eq(council_id))
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect();
            members
                .into_iter()
                .filter(|(user, _, _)| seated.contains(user))
                .map(|(user, _, _)| (user, user))
                .collect()
        }
    })
}

async fn eligible_units<C: ConnectionTrait>(
    db: &C,
    found: &ballot::Model,
) -> ServiceResult<BTreeSet<Uuid>> {
    Ok(eligible_voters(db, found)
        .await?
        .into_iter()
        .map(|(_, unit)| unit)
        .collect())
}

/// Writes the electorate snapshot and its size, and marks the ballot OPEN.
async fn fix_electorate<C: ConnectionTrait>(
    txn: &C,
    found: &ballot::Model,
) -> ServiceResult<ballot::Model> {
    let voters = eligible_voters(txn, found).await?;
    let size = voters
        .iter()
        .map(|(_, unit)| *unit)
        .collect::<BTreeSet<_>>()
        .len() as i32;
    for chunk in voters.chunks(1_000) {
        ballot_elector::Entity::insert_many(chunk.iter().map(|(user, unit)| {
            ballot_elector::ActiveModel {
                ballot_id: Set(found.id),
                user_id: Set(*user),
                community_id: Set(found.community_id),
                unit_id: Set(*unit),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let opened = ballot::Entity::update_many()
        .col_expr(ballot::Column::ElectorateSize, Expr::value(size))
        .col_expr(ballot::Column::Status, Expr::value(BallotStatus::Open))
        .filter(ballot::Column::Id.eq(found.id))
        .filter(ballot::Column::Status.is_in([BallotStatus::Open, BallotStatus::Scheduled]))
        .filter(ballot::Column::ElectorateSize.eq(0))
        .exec(txn)
        .await?;
    if opened.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::BallotStarted,
            "表决已开始",
        ));
    }
    find_ballot(txn, found.id).await
}

/// Opens SCHEDULED ballots whose time has come (the background task).
pub async fn open_due(db: &DatabaseConnection) -> ServiceResult<usize> {
    let due: Vec<Uuid> = ballot::Entity::find()
        .select_only()
        .column(ballot::Column::Id)
        .filter(ballot::Column::Status.eq(BallotStatus::Scheduled))
        .filter(ballot::Column::OpensAt.lte(Utc::now()))
        .into_tuple()
        .all(db)
        .await?;
    let mut opened = 0;
    for id in due {
        let txn = begin_write(db).await?;
        let found = lock_ballot(&txn, id, true).await?;
        if found.status != BallotStatus::Scheduled {
            continue;
        }
        let saved = fix_electorate(&txn, &found).await?;
        audit::record(
            &txn,
            AuditEntry::new("ballot", id, "open")
                .community(saved.community_id)
                .change(Some(ballot_json(&found)), Some(ballot_json(&saved))),
        )
        .await?;
        outbox::enqueue(
            &txn,
            saved.community_id,
            "BALLOT_OPENED",
            json!({"ballotId": id, "closesAt": saved.closes_at}),
        )
        .await?;
        txn.commit().await?;
        opened += 1;
    }
    Ok(opened)
}

/// Reads the ballot row locking it (PostgreSQL; SQLite transactions are
/// already serialised): shared for a vote, exclusive for closing or opening.
async fn lock_ballot<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    exclusive: bool,
) -> ServiceResult<ballot::Model> {
    let query = ballot::Entity::find_by_id(id);
    let query = match (txn.get_database_backend(), exclusive) {
        (DbBackend::Postgres, true) => query.lock_exclusive(),
        (DbBackend::Postgres, false) => query.lock_shared(),
        _ => query,
    };
    query.one(txn).await?.ok_or(ServiceError::NotFound("表决"))
}

fn ballot_json(b: &ballot::Model) -> serde_json::Value {
    json!({
        "target": b.target_kind.to_value(),
        "targetId": b.target_id,
        "status": b.status.to_value(),
        "electorate": b.electorate.to_value(),
        "passRule": b.pass_rule.to_value(),
        "quorum": b.quorum,
        "secret": b.secret,
        "electorateSize": b.electorate_size,
        "opensAt": b.opens_at,
        "closesAt": b.closes_at,
        "passed": b.passed,
        "quorumMet": b.quorum_met,
        "for": b.for_count,
        "against": b.against_count,
        "abstain": b.abstain_count,
        "turnout": b.turnout,
    })
}

// ---------- voting ----------

fn check_open(found: &ballot::Model) -> ServiceResult<()> {
    match found.status {
        BallotStatus::Open if found.closes_at > Utc::now() => Ok(()),
        BallotStatus::Scheduled => Err(ServiceError::invalid_state(
            Reason::BallotNotOpen,
            "表决尚未开始",
        )),
        _ => Err(ServiceError::invalid_state(
            Reason::BallotClosed,
            "表决已结束",
        )),
    }
}

/// A voter casts (or, on an open ballot, changes) their vote; with
/// `on_behalf_of`, a proxy holder votes for the member who authorised them.
pub async fn cast_vote(
    db: &DatabaseConnection,
    hub: &dyn TallyPublisher,
    actor: &Actor,
    ballot_id: Uuid,
    choice: Choice,
    on_behalf_of: Option<Uuid>,
) -> ServiceResult<ballot::Model> {
    let (_, standing) = load(db, actor, ballot_id).await?;
    if !standing.is_member() {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let user_id = standing.user_id;
    let txn = begin_write(db).await?;
    let found = lock_ballot(&txn, ballot_id, false).await?;
    check_open(&found)?;
    let mut entry = AuditEntry::new("ballot", ballot_id, "vote")
        .community(found.community_id)
        .actor(Some(user_id));
    match on_behalf_of {
        None => {
            let elector = elector_of(&txn, ballot_id, user_id)
                .await?
                .ok_or(ServiceError::Forbidden(Reason::NotPermitted))?;
            refuse_if_delegated(&txn, ballot_id, user_id).await?;
            let before = write_vote(
                &txn,
                &found,
                elector.unit_id,
                user_id,
                choice,
                VoteMethod::Online,
                None,
            )
            .await?;
            entry = entry.change(
                vote_json(&found, before.as_ref(), None, None),
                vote_json(
                    &found,
                    Some(&choice),
                    Some(user_id),
                    Some(VoteMethod::Online),
                ),
            );
        }
        Some(principal) => {
            let proxy = ballot_proxy::Entity::find()
                .filter(ballot_proxy::Column::BallotId.eq(ballot_id))
                .filter(ballot_proxy::Column::PrincipalId.eq(principal))
                .filter(ballot_proxy::Column::HolderId.eq(user_id))
                .filter(ballot_proxy::Column::Status.ne(ProxyStatus::Revoked))
                .one(&txn)
                .await?
                .ok_or(ServiceError::Forbidden(Reason::NotPermitted))?;
            let elector = elector_of(&txn, ballot_id, principal)
                .await?
                .ok_or(ServiceError::Forbidden(Reason::NotPermitted))?;
            let before = write_vote(
                &txn,
                &found,
                elector.unit_id,
                principal,
                choice,
                VoteMethod::Proxy,
                Some(user_id),
            )
            .await?;
            if proxy.status == ProxyStatus::Active {
                let used = ballot_proxy::Entity::update_many()
                    .col_expr(ballot_proxy::Column::Status, Expr::value(ProxyStatus::Used))
                    .col_expr(ballot_proxy::Column::EndedAt, Expr::value(Some(Utc::now())))
                    .filter(ballot_proxy::Column::Id.eq(proxy.id))
                    .filter(ballot_proxy::Column::Status.eq(ProxyStatus::Active))
                    .exec(&txn)
                    .await?;
                if used.rows_affected != 1 {
                    return Err(ServiceError::conflict(Reason::ProxyRevoked, "委托已被撤销"));
                }
            }
            entry.on_behalf_of = Some(principal);
            entry = entry.change(
                vote_json(&found, before.as_ref(), None, None),
                vote_json(
                    &found,
                    Some(&choice),
                    Some(principal),
                    Some(VoteMethod::Proxy),
                ),
            );
        }
    }
    audit::record(&txn, entry).await?;
    tally_feed::notify_in(&txn, hub, ballot_id).await?;
    txn.commit().await?;
    hub.publish_local(ballot_id);
    // A vote writes its own row (or the secret counters), never the
    // ballot's, so the row read under the lock is the ballot as it is now.
    Ok(found)
}

/// Staff record a paper ballot for a voter who cannot use the phone. It is
/// marked PAPER with the staff member, and audited; a voter who voted online
/// cannot also have a paper vote, nor the reverse.
pub async fn record_paper_vote(
    db: &DatabaseConnection,
    hub: &dyn TallyPublisher,
    actor: &Actor,
    ballot_id: Uuid,
    voter_id: Uuid,
    choice: Choice,
) -> ServiceResult<ballot::Model> {
    let (_, standing) = load(db, actor, ballot_id).await?;
    if !standing.allows(Permission::ManageConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let txn = begin_write(db).await?;
    let found = lock_ballot(&txn, ballot_id, false).await?;
    check_open(&found)?;
    let elector = elector_of(&txn, ballot_id, voter_id)
        .await?
        .ok_or_else(|| {
            ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "voterId",
                "该居民不在本次表决的投票人名单中",
            )
        })?;
    if !is_active_member(&txn, found.community_id, voter_id).await? {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "voterId",
            "该居民已不是本社区在册成员",
        ));
    }
    refuse_if_delegated(&txn, ballot_id, voter_id).await?;
    let before = write_vote(
        &txn,
        &found,
        elector.unit_id,
        voter_id,
        choice,
        VoteMethod::Paper,
        Some(standing.user_id),
    )
    .await?;
    let mut entry = AuditEntry::new("ballot", ballot_id, "paper_vote")
        .community(found.community_id)
        .actor(Some(standing.user_id))
        .change(
            vote_json(&found, before.as_ref(), None, None),
            vote_json(
                &found,
                Some(&choice),
                Some(voter_id),
                Some(VoteMethod::Paper),
            ),
        );
    entry.on_behalf_of = Some(voter_id);
    audit::record(&txn, entry).await?;
    tally_feed::notify_in(&txn, hub, ballot_id).await?;
    txn.commit().await?;
    hub.publish_local(ballot_id);
    find_ballot(db, ballot_id).await
}

/// What an audit entry of a vote says. A secret ballot's entry says who
/// voted and how (online, paper, proxy), never the choice.
fn vote_json(
    found: &ballot::Model,
    choice: Option<&Choice>,
    voter: Option<Uuid>,
    method: Option<VoteMethod>,
) -> Option<serde_json::Value> {
    let method = method.map(|m| m.to_value());
    if found.secret {
        return voter.map(|voter| json!({"voter": voter, "method": method}));
    }
    match (choice, voter) {
        (None, None) => None,
        (choice, voter) => Some(json!({
            "voter": voter,
            "method": method,
            "choice": choice.map(ActiveEnum::to_value),
        })),
    }
}

async fn elector_of<C: ConnectionTrait>(
    db: &C,
    ballot_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<Option<ballot_elector::Model>> {
    Ok(ballot_elector::Entity::find_by_id((ballot_id, user_id))
        .one(db)
        .await?)
}

async fn is_active_member<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<bool> {
    Ok(membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .count(db)
        .await?
        > 0)
}

/// A voter who has authorised a proxy does not also vote themself.
async fn refuse_if_delegated<C: ConnectionTrait>(
    db: &C,
    ballot_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<()> {
    let standing_proxy = ballot_proxy::Entity::find()
        .filter(ballot_proxy::Column::BallotId.eq(ballot_id))
        .filter(ballot_proxy::Column::PrincipalId.eq(user_id))
        .filter(ballot_proxy::Column::Status.ne(ProxyStatus::Revoked))
        .one(db)
        .await?;
    match standing_proxy.map(|p| p.status) {
        Some(ProxyStatus::Used) => Err(ServiceError::conflict(
            Reason::VotedByProxy,
            "已由受托人代为投票",
        )),
        Some(_) => Err(ServiceError::conflict(
            Reason::ProxyGiven,
            "您已委托他人代为投票，如需亲自投票请先撤销委托",
        )),
        None => Ok(()),
    }
}

/// Writes one unit's vote; returns the choice it replaced (open ballots).
async fn write_vote<C: ConnectionTrait>(
    txn: &C,
    found: &ballot::Model,
    unit_id: Uuid,
    voter_id: Uuid,
    choice: Choice,
    method: VoteMethod,
    recorded_by: Option<Uuid>,
) -> ServiceResult<Option<Choice>> {
    let now = Utc::now();
    let row = ballot_vote::ActiveModel {
        ballot_id: Set(found.id),
        unit_id: Set(unit_id),
        community_id: Set(found.community_id),
        voter_id: Set(voter_id),
        choice: Set(if found.secret { None } else { Some(choice) }),
        method: Set(method),
        recorded_by: Set(recorded_by),
        cast_at: Set(now),
        updated_at: Set(now),
    };
    if found.secret {
        ballot_vote::Entity::insert(row)
            .exec_without_returning(txn)
            .await?;
        // Every counter is rewritten by every vote (+0 or +1), so the row
        // itself never shows which one this vote moved.
        let (f, a, b) = match choice {
            Choice::For => (1, 0, 0),
            Choice::Against => (0, 1, 0),
            Choice::Abstain => (0, 0, 1),
        };
        let moved = ballot_secret_tally::Entity::update_many()
            .col_expr(
                ballot_secret_tally::Column::ForCount,
                Expr::col(ballot_secret_tally::Column::ForCount).add(f),
            )
            .col_expr(
                ballot_secret_tally::Column::AgainstCount,
                Expr::col(ballot_secret_tally::Column::AgainstCount).add(a),
            )
            .col_expr(
                ballot_secret_tally::Column::AbstainCount,
                Expr::col(ballot_secret_tally::Column::AbstainCount).add(b),
            )
            .filter(ballot_secret_tally::Column::BallotId.eq(found.id))
            .exec(txn)
            .await?;
        if moved.rows_affected != 1 {
            return Err(ServiceError::internal(anyhow::anyhow!(
                "secret tally row missing"
            )));
        }
        return Ok(None);
    }
    let existing = ballot_vote::Entity::find_by_id((found.id, unit_id))
        .one(txn)
        .await?;
    if let Some(existing) = &existing {
        check_replaceable(existing, method, recorded_by)?;
    }
    let mut on_conflict =
        OnConflict::columns([ballot_vote::Column::BallotId, ballot_vote::Column::UnitId]);
    on_conflict
        .update_columns([
            ballot_vote::Column::VoterId,
            ballot_vote::Column::Choice,
            ballot_vote::Column::RecordedBy,
            ballot_vote::Column::UpdatedAt,
        ])
        // Only a vote cast the same way is replaced, even when two arrive at
        // once (and a proxy vote only by the same holder).
        .action_and_where(Expr::col((ballot_vote::Entity, ballot_vote::Column::Method)).eq(method));
    if let (VoteMethod::Proxy, Some(holder)) = (method, recorded_by) {
        on_conflict.action_and_where(
            Expr::col((ballot_vote::Entity, ballot_vote::Column::RecordedBy)).eq(holder),
        );
    }
    let written = ballot_vote::Entity::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(txn)
        .await?;
    if written != 1 {
        let now_there = ballot_vote::Entity::find_by_id((found.id, unit_id))
            .one(txn)
            .await?;
        return Err(match now_there {
            Some(v) => check_replaceable(&v, method, recorded_by)
                .err()
                .unwrap_or_else(|| {
                    ServiceError::conflict(Reason::VoteConflict, "投票冲突，请重试")
                }),
            None => ServiceError::conflict(Reason::VoteConflict, "投票冲突，请重试"),
        });
    }
    Ok(existing.and_then(|v| v.choice))
}

fn check_replaceable(
    existing: &ballot_vote::Model,
    method: VoteMethod,
    recorded_by: Option<Uuid>,
) -> ServiceResult<()> {
    match (existing.method, method) {
        (VoteMethod::Paper, VoteMethod::Online) | (VoteMethod::Paper, VoteMethod::Proxy) => {
            Err(ServiceError::conflict(
                Reason::VotedOnPaper,
                "已由工作人员登记纸质选票，不能再在线投票",
            ))
        }
        (VoteMethod::Online, VoteMethod::Paper) | (VoteMethod::Proxy, VoteMethod::Paper) => {
            Err(ServiceError::conflict(
                Reason::VotedInPerson,
                "该投票人已在线投票，不能再登记纸质选票",
            ))
        }
        (VoteMethod::Proxy, VoteMethod::Online) => Err(ServiceError::conflict(
            Reason::VotedByProxy,
            "已由受托人代为投票",
        )),
        (VoteMethod::Online, VoteMethod::Proxy) => Err(ServiceError::conflict(
            Reason::VotedInPerson,
            "本人（或同户家人）已投票，受托人不能再投",
        )),
        (VoteMethod::Proxy, VoteMethod::Proxy) if existing.recorded_by != recorded_by => Err(
            ServiceError::conflict(Reason::VotedByProxy, "已由其他受托人代为投票"),
        ),
        _ => Ok(()),
    }
}

// ---------- proxies ----------

/// A voter authorises another member to vote for them on one open ballot
/// (委托投票). A member holds at most the community's limit of proxies per
/// ballot (one unless staff allow more). Revocable until used.
pub async fn grant_proxy(
    db: &DatabaseConnection,
    actor: &Actor,
    ballot_id: Uuid,
    holder_id: Uuid,
) -> ServiceResult<ballot_proxy::Model> {
    let (_, standing) = load(db, actor, ballot_id).await?;
    let user_id = standing.user_id;
    if holder_id == user_id {
        return Err(ServiceError::bad_input(
            Reason::SelfReference,
            "holderId",
            "不能委托给自己",
        ));
    }
    let txn = begin_write(db).await?;
    // Exclusive: two grants to one holder must not both pass the limit.
    let found = lock_ballot(&txn, ballot_id, true).await?;
    check_open(&found)?;
    let elector = elector_of(&txn, ballot_id, user_id)
        .await?
        .ok_or(ServiceError::Forbidden(Reason::NotPermitted))?;
    if !is_active_member(&txn, found.community_id, holder_id).await? {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "holderId",
            "受托人须为本社区在册成员",
        ));
    }
    if found.electorate == Electorate::Council
        && elector_of(&txn, ballot_id, holder_id).await?.is_none()
    {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "holderId",
            "议事会表决只能委托给其他议事会成员",
        ));
    }
    if ballot_vote::Entity::find_by_id((ballot_id, elector.unit_id))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ServiceError::conflict(
            Reason::VotedInPerson,
            "已投票，不能再委托",
        ));
    }
    let limit = settings::settings_of(&txn, found.community_id)
        .await?
        .max_proxies_per_holder;
    let held = ballot_proxy::Entity::find()
        .filter(ballot_proxy::Column::BallotId.eq(ballot_id))
        .filter(ballot_proxy::Column::HolderId.eq(holder_id))
        .filter(ballot_proxy::Column::Status.ne(ProxyStatus::Revoked))
        .count(&txn)
        .await? as i32;
    if held >= limit {
        return Err(ServiceError::conflict(
            Reason::ProxyLimitReached,
            format!("受托人在本次表决中已受托{held}票，达到社区上限"),
        ));
    }
    let created = ballot_proxy::ActiveModel {
        id: Set(Uuid::now_v7()),
        ballot_id: Set(ballot_id),
        community_id: Set(found.community_id),
        principal_id: Set(user_id),
        holder_id: Set(holder_id),
        status: Set(ProxyStatus::Active),
        created_at: Set(Utc::now()),
        ended_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("ballot_proxy", created.id, "grant")
            .community(found.community_id)
            .actor(Some(user_id))
            .change(
                None,
                Some(json!({"ballot": ballot_id, "principal": user_id, "holder": holder_id, "status": "ACTIVE"})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn revoke_proxy(
    db: &DatabaseConnection,
    actor: &Actor,
    proxy_id: Uuid,
) -> ServiceResult<ballot_proxy::Model> {
    let user_id = actor.user_id()?;
    let found = ballot_proxy::Entity::find_by_id(proxy_id)
        .one(db)
        .await?
        .filter(|p| p.principal_id == user_id)
        .ok_or(ServiceError::NotFound("委托"))?;
    let txn = begin_write(db).await?;
    let revoked = ballot_proxy::Entity::update_many()
        .col_expr(
            ballot_proxy::Column::Status,
            Expr::value(ProxyStatus::Revoked),
        )
        .col_expr(ballot_proxy::Column::EndedAt, Expr::value(Some(Utc::now())))
        .filter(ballot_proxy::Column::Id.eq(proxy_id))
        .filter(ballot_proxy::Column::Status.eq(ProxyStatus::Active))
        .exec(&txn)
        .await?;
    if revoked.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::ProxyNotRevocable,
            "委托已使用或已撤销，不能再撤销",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("ballot_proxy", proxy_id, "revoke")
            .community(found.community_id)
            .actor(Some(user_id))
            .change(
                Some(json!({"status": "ACTIVE"})),
                Some(json!({"status": "REVOKED"})),
            ),
    )
    .await?;
    let saved = ballot_proxy::Entity::find_by_id(proxy_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("委托"))?;
    txn.commit().await?;
    Ok(saved)
}

/// The proxies the caller gave or holds on a ballot.
pub async fn my_proxies(
    db: &DatabaseConnection,
    actor: &Actor,
    ballot_id: Uuid,
) -> ServiceResult<Vec<ballot_proxy::Model>> {
    let user_id = actor.user_id()?;
    Ok(ballot_proxy::Entity::find()
        .filter(ballot_proxy::Column::BallotId.eq(ballot_id))
        .filter(
            sea_orm::Condition::any()
                .add(ballot_proxy::Column::PrincipalId.eq(user_id))
                .add(ballot_proxy::Column::HolderId.eq(user_id)),
        )
        .order_by_asc(ballot_proxy::Column::Id)
        .all(db)
        .await?)
}

// ---------- closing ----------

/// Staff close an open ballot before its time.
pub async fn close_ballot(
    db: &DatabaseConnection,
    hub: &dyn TallyPublisher,
    actor: &Actor,
    ballot_id: Uuid,
) -> ServiceResult<ballot::Model> {
    let (found, standing) = load(db, actor, ballot_id).await?;
    if !standing.allows(Permission::ManageConsultation) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != BallotStatus::Open {
        return Err(match found.status {
            BallotStatus::Scheduled => {
                ServiceError::invalid_state(Reason::BallotNotOpen, "表决尚未开始")
            }
            _ => ServiceError::invalid_state(Reason::BallotClosed, "表决已结束"),
        });
    }
    close_now(db, hub, ballot_id, Some(standing.user_id))
        .await?
        .ok_or_else(|| ServiceError::invalid_state(Reason::BallotClosed, "表决已结束"))
}

/// Closes every OPEN ballot whose time is up (the background task; safe with
/// several replicas: only the one whose conditional UPDATE wins closes it).
pub async fn close_due(db: &DatabaseConnection, hub: &dyn TallyPublisher) -> ServiceResult<usize> {
    let due: Vec<Uuid> = ballot::Entity::find()
        .select_only()
        .column(ballot::Column::Id)
        .filter(ballot::Column::Status.eq(BallotStatus::Open))
        .filter(ballot::Column::ClosesAt.lte(Utc::now()))
        .into_tuple()
        .all(db)
        .await?;
    let mut closed = 0;
    for id in due {
        if close_now(db, hub, id, None).await?.is_some() {
            closed += 1;
        }
    }
    Ok(closed)
}

/// Closes one ballot if it is still OPEN: takes the tally, decides, moves
/// the target, publishes the result notice, writes the audit and the
/// outbox, all in one transaction. None when someone else closed it first.
pub async fn close_now(
    db: &DatabaseConnection,
    hub: &dyn TallyPublisher,
    ballot_id: Uuid,
    closed_by: Option<Uuid>,
) -> ServiceResult<Option<ballot::Model>> {
    let txn = begin_write(db).await?;
    let found = lock_ballot(&txn, ballot_id, true).await?;
    if found.status != BallotStatus::Open {
        return Ok(None);
    }
    let tally = count_votes(&txn, &found).await?;
    let (quorum_met, passed) = decide(
        found.pass_rule,
        i64::from(found.quorum),
        i64::from(found.electorate_size),
        &tally,
    );
    let now = Utc::now();
    let closed = ballot::Entity::update_many()
        .col_expr(ballot::Column::Status, Expr::value(BallotStatus::Closed))
        .col_expr(ballot::Column::ClosedAt, Expr::value(Some(now)))
        .col_expr(ballot::Column::ClosedBy, Expr::value(closed_by))
        .col_expr(ballot::Column::Passed, Expr::value(Some(passed)))
        .col_expr(ballot::Column::QuorumMet, Expr::value(Some(quorum_met)))
        .col_expr(
            ballot::Column::ForCount,
            Expr::value(Some(tally.for_count as i32)),
        )
        .col_expr(
            ballot::Column::AgainstCount,
            Expr::value(Some(tally.against_count as i32)),
        )
        .col_expr(
            ballot::Column::AbstainCount,
            Expr::value(Some(tally.abstain_count as i32)),
        )
        .col_expr(
            ballot::Column::Turnout,
            Expr::value(Some(tally.turnout as i32)),
        )
        .filter(ballot::Column::Id.eq(ballot_id))
        .filter(ballot::Column::Status.eq(BallotStatus::Open))
        .exec(&txn)
        .await?;
    if closed.rows_affected != 1 {
        return Ok(None);
    }
    let saved = find_ballot(&txn, ballot_id).await?;
    let title = apply_result(&txn, &saved, passed, closed_by).await?;
    let notice_days = settings::settings_of(&txn, saved.community_id)
        .await?
        .notice_days;
    ballot_result_notice::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(saved.community_id),
        ballot_id: Set(ballot_id),
        target_kind: Set(saved.target_kind),
        target_id: Set(saved.target_id),
        title: Set(title.clone()),
        passed: Set(passed),
        quorum_met: Set(quorum_met),
        electorate_size: Set(saved.electorate_size),
        for_count: Set(tally.for_count as i32),
        against_count: Set(tally.against_count as i32),
        abstain_count: Set(tally.abstain_count as i32),
        turnout: Set(tally.turnout as i32),
        published_at: Set(now),
        visible_until: Set(now + Duration::days(i64::from(notice_days))),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("ballot", ballot_id, "close")
            .community(saved.community_id)
            .actor(closed_by)
            .change(Some(ballot_json(&found)), Some(ballot_json(&saved))),
    )
    .await?;
    outbox::enqueue(
        &txn,
        saved.community_id,
        "RESULT_PUBLISHED",
        json!({"ballotId": ballot_id, "title": title, "passed": passed,
               "quorumMet": quorum_met, "turnout": tally.turnout,
               "electorateSize": saved.electorate_size}),
    )
    .await?;
    tally_feed::notify_in(&txn, hub, ballot_id).await?;
    txn.commit().await?;
    hub.publish_local(ballot_id);
    Ok(Some(saved))
}

/// The one place a closed ballot's result reaches what it decided, inside
/// the closing transaction. Returns the title for the result notice.
///
/// The covenant domain extends the COVENANT_VERSION arm: a passed vote puts
/// the version IN_FORCE (superseding the previous one), a failed one REJECTED.
async fn apply_result<C: ConnectionTrait>(
    txn: &C,
    closed: &ballot::Model,
    passed: bool,
    closed_by: Option<Uuid>,
) -> ServiceResult<String> {
    match closed.target_kind {
        BallotTarget::Proposal => {
            let to = if passed {
                ProposalStatus::Passed
            } else {
                ProposalStatus::Failed
            };
            let moved = proposal::move_status(
                txn,
                closed.target_id,
                ProposalStatus::InVote,
                to,
                closed_by,
                "vote_result",
            )
            .await?;
            Ok(moved.title)
        }
        BallotTarget::CovenantVersion => {
            let moved = covenant::conclude_vote(txn, closed.target_id, passed, closed_by).await?;
            Ok(format!("社区居民公约第{}版", moved.number))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ballot_opens_now_or_later_and_closes_within_its_window() {
        let now = Utc::now();
        let reason = |r: ServiceResult<DateTime<Utc>>| r.err().map(|e| e.reason());
        // No opening time, or one already past: it opens now.
        assert_eq!(
            ballot_window(None, now + Duration::days(1), now).ok(),
            Some(now)
        );
        assert_eq!(
            ballot_window(Some(now - Duration::hours(1)), now + Duration::days(1), now).ok(),
            Some(now)
        );
        // A later opening is kept (the ballot is SCHEDULED).
        let later = now + Duration::hours(3);
        assert_eq!(
            ballot_window(Some(later), now + Duration::days(1), now).ok(),
            Some(later)
        );
        // It must close after it opens, and within MAX_BALLOT_DAYS.
        assert_eq!(
            reason(ballot_window(Some(later), later, now)),
            Some(Reason::TimeRangeInvalid)
        );
        assert_eq!(
            reason(ballot_window(
                None,
                now + Duration::days(MAX_BALLOT_DAYS) + Duration::seconds(1),
                now
            )),
            Some(Reason::TimeRangeInvalid)
        );
        assert!(ballot_window(None, now + Duration::days(MAX_BALLOT_DAYS), now).is_ok());
    }

    #[test]
    fn the_electorate_must_exist_and_reach_the_quorum() {
        let reason = |r: ServiceResult<()>| r.err().map(|e| e.reason());
        assert_eq!(
            reason(check_electorate(0, 1)),
            Some(Reason::NoEligibleVoters)
        );
        assert_eq!(
            reason(check_electorate(3, 4)),
            Some(Reason::ValueOutOfRange)
        );
        assert!(check_electorate(3, 3).is_ok());
    }
}
