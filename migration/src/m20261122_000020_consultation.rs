//! Consultation (DESIGN §4): councils, proposals with seconds, comments and
//! ratings, council meetings with agenda and attendance, ballots with their
//! fixed electorate, votes, secret tallies, proxies, published results, the
//! community's consultation settings and the notifications outbox.
//!
//! Votes are protected here, not only in Rust: one vote per elector unit and
//! ballot (primary key), choices checked, counters never negative. A secret
//! ballot's choices are never stored per voter: `ballot_vote.choice` stays NULL
//! and the choice only moves the ballot's `ballot_secret_tally` counters.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Region {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConsultationSetting {
    Table,
    CommunityId,
    SecondingKind,
    SecondingValue,
    MaxProxiesPerHolder,
    NoticeDays,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Council {
    Table,
    Id,
    CommunityId,
    Name,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CouncilMember {
    Table,
    CouncilId,
    UserId,
    CommunityId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Proposal {
    Table,
    Id,
    CommunityId,
    AuthorId,
    Title,
    Description,
    Status,
    SecondCount,
    MergedIntoId,
    RejectReason,
    DecidedBy,
    DoneAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProposalSecond {
    Table,
    ProposalId,
    UserId,
    CommunityId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProposalComment {
    Table,
    Id,
    ProposalId,
    CommunityId,
    AuthorId,
    ParentId,
    Body,
    Hidden,
    HiddenReason,
    HiddenBy,
    ReportCount,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CommentReport {
    Table,
    CommentId,
    UserId,
    CommunityId,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProposalRating {
    Table,
    ProposalId,
    UserId,
    CommunityId,
    Score,
    Comment,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Meeting {
    Table,
    Id,
    CommunityId,
    CouncilId,
    Title,
    StartsAt,
    EndsAt,
    Mode,
    Location,
    OnlineUrl,
    Quorum,
    CheckInCode,
    Minutes,
    MinutesPublishedAt,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MeetingAgendaItem {
    Table,
    MeetingId,
    ProposalId,
    CommunityId,
    Position,
}

#[derive(DeriveIden, Clone, Copy)]
enum MeetingAttendance {
    Table,
    MeetingId,
    UserId,
    CommunityId,
    Method,
    RecordedBy,
    CheckedInAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Ballot {
    Table,
    Id,
    CommunityId,
    TargetKind,
    TargetId,
    CouncilId,
    Electorate,
    PassRule,
    Quorum,
    Secret,
    Status,
    OpensAt,
    ClosesAt,
    ElectorateSize,
    OpenedBy,
    ClosedAt,
    ClosedBy,
    Passed,
    QuorumMet,
    ForCount,
    AgainstCount,
    AbstainCount,
    Turnout,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum BallotElector {
    Table,
    BallotId,
    UserId,
    CommunityId,
    UnitId,
}

#[derive(DeriveIden, Clone, Copy)]
enum BallotVote {
    Table,
    BallotId,
    UnitId,
    CommunityId,
    VoterId,
    Choice,
    Method,
    RecordedBy,
    CastAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum BallotSecretTally {
    Table,
    BallotId,
    CommunityId,
    ForCount,
    AgainstCount,
    AbstainCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum BallotProxy {
    Table,
    Id,
    BallotId,
    CommunityId,
    PrincipalId,
    HolderId,
    Status,
    CreatedAt,
    EndedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum BallotResultNotice {
    Table,
    Id,
    CommunityId,
    BallotId,
    TargetKind,
    TargetId,
    Title,
    Passed,
    QuorumMet,
    ElectorateSize,
    ForCount,
    AgainstCount,
    AbstainCount,
    Turnout,
    PublishedAt,
    VisibleUntil,
}

#[derive(DeriveIden, Clone, Copy)]
enum NotificationOutbox {
    Table,
    Id,
    CommunityId,
    Event,
    Payload,
    Status,
    Attempts,
    LockedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

fn uuid<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn uuid_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().null().to_owned()
}

fn uuid_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn time_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn text<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn text_null<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

/// A string enum column with its CHECK constraint.
fn one_of<T: IntoIden + Copy + 'static>(col: T, values: &[&'static str]) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(24)
        .not_null()
        .check(Expr::col(col).is_in(values.iter().copied()))
        .to_owned()
}

/// A counter that can never go below zero.
fn count<T: IntoIden + Copy + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .default(0)
        .check(Expr::col(col).gte(0))
        .to_owned()
}

fn count_null<T: IntoIden + Copy + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .null()
        .check(Expr::col(col).gte(0))
        .to_owned()
}

fn community_fk<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    table: T,
    col: C,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Region::Table, Region::Id)
        .to_owned()
}

fn user_fk<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    table: T,
    col: C,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .to_owned()
}

const PROPOSAL_STATUSES: &[&str] = &[
    "SUBMITTED",
    "ELIGIBLE",
    "ACCEPTED",
    "MERGED",
    "REJECTED",
    "IN_VOTE",
    "PASSED",
    "FAILED",
    "DONE",
];
const CHOICES: &[&str] = &["FOR", "AGAINST", "ABSTAIN"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // ---------- settings ----------
        manager
            .create_table(
                Table::create()
                    .table(ConsultationSetting::Table)
                    .col(uuid_pk(ConsultationSetting::CommunityId))
                    .col(one_of(
                        ConsultationSetting::SecondingKind,
                        &["RESIDENTS", "HOUSEHOLD_PERCENT"],
                    ))
                    .col(
                        ColumnDef::new(ConsultationSetting::SecondingValue)
                            .integer()
                            .not_null()
                            .check(Expr::col(ConsultationSetting::SecondingValue).gte(1)),
                    )
                    .col(
                        ColumnDef::new(ConsultationSetting::MaxProxiesPerHolder)
                            .integer()
                            .not_null()
                            .default(1)
                            .check(Expr::col(ConsultationSetting::MaxProxiesPerHolder).gte(0)),
                    )
                    .col(
                        ColumnDef::new(ConsultationSetting::NoticeDays)
                            .integer()
                            .not_null()
                            .default(7)
                            .check(Expr::col(ConsultationSetting::NoticeDays).gte(1)),
                    )
                    .col(uuid_null(ConsultationSetting::UpdatedBy))
                    .col(time(ConsultationSetting::UpdatedAt))
                    .foreign_key(&mut community_fk(
                        ConsultationSetting::Table,
                        ConsultationSetting::CommunityId,
                    ))
                    // A share of households is a percentage.
                    .check(
                        Expr::col(ConsultationSetting::SecondingKind)
                            .eq("RESIDENTS")
                            .or(Expr::col(ConsultationSetting::SecondingValue).lte(100)),
                    )
                    .to_owned(),
            )
            .await?;

        // ---------- councils ----------
        manager
            .create_table(
                Table::create()
                    .table(Council::Table)
                    .col(uuid_pk(Council::Id))
                    .col(uuid(Council::CommunityId))
                    .col(text(Council::Name, 64))
                    .col(uuid(Council::CreatedBy))
                    .col(time(Council::CreatedAt))
                    .foreign_key(&mut community_fk(Council::Table, Council::CommunityId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_council_community_name")
                    .table(Council::Table)
                    .col(Council::CommunityId)
                    .col(Council::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CouncilMember::Table)
                    .col(uuid(CouncilMember::CouncilId))
                    .col(uuid(CouncilMember::UserId))
                    .col(uuid(CouncilMember::CommunityId))
                    .col(time(CouncilMember::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(CouncilMember::CouncilId)
                            .col(CouncilMember::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CouncilMember::Table, CouncilMember::CouncilId)
                            .to(Council::Table, Council::Id),
                    )
                    .foreign_key(&mut user_fk(CouncilMember::Table, CouncilMember::UserId))
                    .to_owned(),
            )
            .await?;

        // ---------- proposals ----------
        manager
            .create_table(
                Table::create()
                    .table(Proposal::Table)
                    .col(uuid_pk(Proposal::Id))
                    .col(uuid(Proposal::CommunityId))
                    .col(uuid(Proposal::AuthorId))
                    .col(text(Proposal::Title, 100))
                    .col(ColumnDef::new(Proposal::Description).text().not_null())
                    .col(one_of(Proposal::Status, PROPOSAL_STATUSES))
                    .col(count(Proposal::SecondCount))
                    .col(uuid_null(Proposal::MergedIntoId))
                    .col(text_null(Proposal::RejectReason, 500))
                    .col(uuid_null(Proposal::DecidedBy))
                    .col(time_null(Proposal::DoneAt))
                    .col(time(Proposal::CreatedAt))
                    .col(time(Proposal::UpdatedAt))
                    .foreign_key(&mut community_fk(Proposal::Table, Proposal::CommunityId))
                    .foreign_key(&mut user_fk(Proposal::Table, Proposal::AuthorId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Proposal::Table, Proposal::MergedIntoId)
                            .to(Proposal::Table, Proposal::Id),
                    )
                    // A merged proposal names where it went; no other does.
                    .check(
                        Expr::col(Proposal::Status)
                            .eq("MERGED")
                            .eq(Expr::col(Proposal::MergedIntoId).is_not_null()),
                    )
                    .check(
                        Expr::col(Proposal::MergedIntoId)
                            .is_null()
                            .or(Expr::col(Proposal::MergedIntoId).ne(Expr::col(Proposal::Id))),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_proposal_community_status")
                    .table(Proposal::Table)
                    .col(Proposal::CommunityId)
                    .col(Proposal::Status)
                    .col(Proposal::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProposalSecond::Table)
                    .col(uuid(ProposalSecond::ProposalId))
                    .col(uuid(ProposalSecond::UserId))
                    .col(uuid(ProposalSecond::CommunityId))
                    .col(time(ProposalSecond::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProposalSecond::ProposalId)
                            .col(ProposalSecond::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProposalSecond::Table, ProposalSecond::ProposalId)
                            .to(Proposal::Table, Proposal::Id),
                    )
                    .foreign_key(&mut user_fk(ProposalSecond::Table, ProposalSecond::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProposalComment::Table)
                    .col(uuid_pk(ProposalComment::Id))
                    .col(uuid(ProposalComment::ProposalId))
                    .col(uuid(ProposalComment::CommunityId))
                    .col(uuid(ProposalComment::AuthorId))
                    .col(uuid_null(ProposalComment::ParentId))
                    .col(ColumnDef::new(ProposalComment::Body).text().not_null())
                    .col(
                        ColumnDef::new(ProposalComment::Hidden)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(text_null(ProposalComment::HiddenReason, 500))
                    .col(uuid_null(ProposalComment::HiddenBy))
                    .col(count(ProposalComment::ReportCount))
                    .col(time(ProposalComment::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProposalComment::Table, ProposalComment::ProposalId)
                            .to(Proposal::Table, Proposal::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProposalComment::Table, ProposalComment::ParentId)
                            .to(ProposalComment::Table, ProposalComment::Id),
                    )
                    .foreign_key(&mut user_fk(
                        ProposalComment::Table,
                        ProposalComment::AuthorId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_proposal_comment_proposal")
                    .table(ProposalComment::Table)
                    .col(ProposalComment::ProposalId)
                    .col(ProposalComment::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CommentReport::Table)
                    .col(uuid(CommentReport::CommentId))
                    .col(uuid(CommentReport::UserId))
                    .col(uuid(CommentReport::CommunityId))
                    .col(text(CommentReport::Reason, 500))
                    .col(time(CommentReport::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(CommentReport::CommentId)
                            .col(CommentReport::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CommentReport::Table, CommentReport::CommentId)
                            .to(ProposalComment::Table, ProposalComment::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProposalRating::Table)
                    .col(uuid(ProposalRating::ProposalId))
                    .col(uuid(ProposalRating::UserId))
                    .col(uuid(ProposalRating::CommunityId))
                    .col(
                        ColumnDef::new(ProposalRating::Score)
                            .integer()
                            .not_null()
                            .check(Expr::col(ProposalRating::Score).between(1, 5)),
                    )
                    .col(text_null(ProposalRating::Comment, 500))
                    .col(time(ProposalRating::CreatedAt))
                    .col(time(ProposalRating::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProposalRating::ProposalId)
                            .col(ProposalRating::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProposalRating::Table, ProposalRating::ProposalId)
                            .to(Proposal::Table, Proposal::Id),
                    )
                    .to_owned(),
            )
            .await?;

        // ---------- meetings ----------
        manager
            .create_table(
                Table::create()
                    .table(Meeting::Table)
                    .col(uuid_pk(Meeting::Id))
                    .col(uuid(Meeting::CommunityId))
                    .col(uuid(Meeting::CouncilId))
                    .col(text(Meeting::Title, 100))
                    .col(time(Meeting::StartsAt))
                    .col(time(Meeting::EndsAt))
                    .col(one_of(Meeting::Mode, &["IN_PERSON", "ONLINE", "HYBRID"]))
                    .col(text_null(Meeting::Location, 200))
                    .col(text_null(Meeting::OnlineUrl, 500))
                    .col(
                        ColumnDef::new(Meeting::Quorum)
                            .integer()
                            .not_null()
                            .check(Expr::col(Meeting::Quorum).gte(1)),
                    )
                    .col(text(Meeting::CheckInCode, 16))
                    .col(ColumnDef::new(Meeting::Minutes).text().null())
                    .col(time_null(Meeting::MinutesPublishedAt))
                    .col(uuid(Meeting::CreatedBy))
                    .col(time(Meeting::CreatedAt))
                    .foreign_key(&mut community_fk(Meeting::Table, Meeting::CommunityId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Meeting::Table, Meeting::CouncilId)
                            .to(Council::Table, Council::Id),
                    )
                    .check(Expr::col(Meeting::EndsAt).gt(Expr::col(Meeting::StartsAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_meeting_community")
                    .table(Meeting::Table)
                    .col(Meeting::CommunityId)
                    .col(Meeting::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MeetingAgendaItem::Table)
                    .col(uuid(MeetingAgendaItem::MeetingId))
                    .col(uuid(MeetingAgendaItem::ProposalId))
                    .col(uuid(MeetingAgendaItem::CommunityId))
                    .col(
                        ColumnDef::new(MeetingAgendaItem::Position)
                            .integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(MeetingAgendaItem::MeetingId)
                            .col(MeetingAgendaItem::ProposalId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MeetingAgendaItem::Table, MeetingAgendaItem::MeetingId)
                            .to(Meeting::Table, Meeting::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MeetingAgendaItem::Table, MeetingAgendaItem::ProposalId)
                            .to(Proposal::Table, Proposal::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MeetingAttendance::Table)
                    .col(uuid(MeetingAttendance::MeetingId))
                    .col(uuid(MeetingAttendance::UserId))
                    .col(uuid(MeetingAttendance::CommunityId))
                    .col(one_of(MeetingAttendance::Method, &["CODE", "STAFF"]))
                    .col(uuid_null(MeetingAttendance::RecordedBy))
                    .col(time(MeetingAttendance::CheckedInAt))
                    .primary_key(
                        Index::create()
                            .col(MeetingAttendance::MeetingId)
                            .col(MeetingAttendance::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MeetingAttendance::Table, MeetingAttendance::MeetingId)
                            .to(Meeting::Table, Meeting::Id),
                    )
                    .foreign_key(&mut user_fk(
                        MeetingAttendance::Table,
                        MeetingAttendance::UserId,
                    ))
                    .to_owned(),
            )
            .await?;

        // ---------- ballots ----------
        manager
            .create_table(
                Table::create()
                    .table(Ballot::Table)
                    .col(uuid_pk(Ballot::Id))
                    .col(uuid(Ballot::CommunityId))
                    .col(one_of(
                        Ballot::TargetKind,
                        &["PROPOSAL", "COVENANT_VERSION"],
                    ))
                    .col(uuid(Ballot::TargetId))
                    .col(uuid_null(Ballot::CouncilId))
                    .col(one_of(
                        Ballot::Electorate,
                        &["COUNCIL", "HOUSEHOLDS", "RESIDENTS"],
                    ))
                    .col(one_of(
                        Ballot::PassRule,
                        &["MAJORITY_OF_CAST", "TWO_THIRDS_OF_ELECTORATE"],
                    ))
                    .col(
                        ColumnDef::new(Ballot::Quorum)
                            .integer()
                            .not_null()
                            .check(Expr::col(Ballot::Quorum).gte(1)),
                    )
                    .col(ColumnDef::new(Ballot::Secret).boolean().not_null())
                    .col(one_of(Ballot::Status, &["SCHEDULED", "OPEN", "CLOSED"]))
                    .col(time(Ballot::OpensAt))
                    .col(time(Ballot::ClosesAt))
                    .col(count(Ballot::ElectorateSize))
                    .col(uuid(Ballot::OpenedBy))
                    .col(time_null(Ballot::ClosedAt))
                    .col(uuid_null(Ballot::ClosedBy))
                    .col(ColumnDef::new(Ballot::Passed).boolean().null())
                    .col(ColumnDef::new(Ballot::QuorumMet).boolean().null())
                    .col(count_null(Ballot::ForCount))
                    .col(count_null(Ballot::AgainstCount))
                    .col(count_null(Ballot::AbstainCount))
                    .col(count_null(Ballot::Turnout))
                    .col(time(Ballot::CreatedAt))
                    .foreign_key(&mut community_fk(Ballot::Table, Ballot::CommunityId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Ballot::Table, Ballot::CouncilId)
                            .to(Council::Table, Council::Id),
                    )
                    .check(Expr::col(Ballot::ClosesAt).gt(Expr::col(Ballot::OpensAt)))
                    // A council ballot names its council.
                    .check(
                        Expr::col(Ballot::Electorate)
                            .ne("COUNCIL")
                            .or(Expr::col(Ballot::CouncilId).is_not_null()),
                    )
                    // The result exists exactly when the ballot is closed.
                    .check(
                        Expr::col(Ballot::Status)
                            .eq("CLOSED")
                            .eq(Expr::col(Ballot::Passed).is_not_null()),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // At most one ballot not yet closed per proposal or covenant version.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_ballot_live_target ON ballot (target_kind, target_id) \
             WHERE status <> 'CLOSED'",
        )
        .await?;
        // The closing task looks for due ballots.
        manager
            .create_index(
                Index::create()
                    .name("ix_ballot_status_closes")
                    .table(Ballot::Table)
                    .col(Ballot::Status)
                    .col(Ballot::ClosesAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ballot_target")
                    .table(Ballot::Table)
                    .col(Ballot::TargetKind)
                    .col(Ballot::TargetId)
                    .to_owned(),
            )
            .await?;

        // The electorate as fixed when the ballot opened: who may vote, and
        // for which unit (the household on a HOUSEHOLDS ballot, else themself).
        manager
            .create_table(
                Table::create()
                    .table(BallotElector::Table)
                    .col(uuid(BallotElector::BallotId))
                    .col(uuid(BallotElector::UserId))
                    .col(uuid(BallotElector::CommunityId))
                    .col(uuid(BallotElector::UnitId))
                    .primary_key(
                        Index::create()
                            .col(BallotElector::BallotId)
                            .col(BallotElector::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BallotElector::Table, BallotElector::BallotId)
                            .to(Ballot::Table, Ballot::Id),
                    )
                    .foreign_key(&mut user_fk(BallotElector::Table, BallotElector::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ballot_elector_unit")
                    .table(BallotElector::Table)
                    .col(BallotElector::BallotId)
                    .col(BallotElector::UnitId)
                    .to_owned(),
            )
            .await?;

        // One row per unit that voted: the key makes each unit count once.
        // `choice` is NULL on secret ballots (see ballot_secret_tally).
        manager
            .create_table(
                Table::create()
                    .table(BallotVote::Table)
                    .col(uuid(BallotVote::BallotId))
                    .col(uuid(BallotVote::UnitId))
                    .col(uuid(BallotVote::CommunityId))
                    .col(uuid(BallotVote::VoterId))
                    .col(
                        ColumnDef::new(BallotVote::Choice)
                            .string_len(24)
                            .null()
                            .check(
                                Expr::col(BallotVote::Choice)
                                    .is_null()
                                    .or(Expr::col(BallotVote::Choice)
                                        .is_in(CHOICES.iter().copied())),
                            ),
                    )
                    .col(one_of(BallotVote::Method, &["ONLINE", "PAPER", "PROXY"]))
                    .col(uuid_null(BallotVote::RecordedBy))
                    .col(time(BallotVote::CastAt))
                    .col(time(BallotVote::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(BallotVote::BallotId)
                            .col(BallotVote::UnitId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BallotVote::Table, BallotVote::BallotId)
                            .to(Ballot::Table, Ballot::Id),
                    )
                    .foreign_key(&mut user_fk(BallotVote::Table, BallotVote::VoterId))
                    // Paper and proxy votes name who recorded them.
                    .check(
                        Expr::col(BallotVote::Method)
                            .eq("ONLINE")
                            .or(Expr::col(BallotVote::RecordedBy).is_not_null()),
                    )
                    .to_owned(),
            )
            .await?;

        // A secret ballot's choices: three counters, no row per vote, so
        // nothing (no key, no time, no insertion order) ties a choice to a voter.
        manager
            .create_table(
                Table::create()
                    .table(BallotSecretTally::Table)
                    .col(uuid_pk(BallotSecretTally::BallotId))
                    .col(uuid(BallotSecretTally::CommunityId))
                    .col(count(BallotSecretTally::ForCount))
                    .col(count(BallotSecretTally::AgainstCount))
                    .col(count(BallotSecretTally::AbstainCount))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BallotSecretTally::Table, BallotSecretTally::BallotId)
                            .to(Ballot::Table, Ballot::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BallotProxy::Table)
                    .col(uuid_pk(BallotProxy::Id))
                    .col(uuid(BallotProxy::BallotId))
                    .col(uuid(BallotProxy::CommunityId))
                    .col(uuid(BallotProxy::PrincipalId))
                    .col(uuid(BallotProxy::HolderId))
                    .col(one_of(BallotProxy::Status, &["ACTIVE", "REVOKED", "USED"]))
                    .col(time(BallotProxy::CreatedAt))
                    .col(time_null(BallotProxy::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BallotProxy::Table, BallotProxy::BallotId)
                            .to(Ballot::Table, Ballot::Id),
                    )
                    .foreign_key(&mut user_fk(BallotProxy::Table, BallotProxy::PrincipalId))
                    .foreign_key(&mut user_fk(BallotProxy::Table, BallotProxy::HolderId))
                    .check(Expr::col(BallotProxy::PrincipalId).ne(Expr::col(BallotProxy::HolderId)))
                    .to_owned(),
            )
            .await?;
        // One standing proxy per voter and ballot.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_ballot_proxy_principal ON ballot_proxy (ballot_id, principal_id) \
             WHERE status <> 'REVOKED'",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ballot_proxy_holder")
                    .table(BallotProxy::Table)
                    .col(BallotProxy::BallotId)
                    .col(BallotProxy::HolderId)
                    .to_owned(),
            )
            .await?;

        // 阳光公示: the published result of each closed ballot.
        manager
            .create_table(
                Table::create()
                    .table(BallotResultNotice::Table)
                    .col(uuid_pk(BallotResultNotice::Id))
                    .col(uuid(BallotResultNotice::CommunityId))
                    .col(
                        ColumnDef::new(BallotResultNotice::BallotId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(text(BallotResultNotice::TargetKind, 24))
                    .col(uuid(BallotResultNotice::TargetId))
                    .col(text(BallotResultNotice::Title, 100))
                    .col(
                        ColumnDef::new(BallotResultNotice::Passed)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BallotResultNotice::QuorumMet)
                            .boolean()
                            .not_null(),
                    )
                    .col(count(BallotResultNotice::ElectorateSize))
                    .col(count(BallotResultNotice::ForCount))
                    .col(count(BallotResultNotice::AgainstCount))
                    .col(count(BallotResultNotice::AbstainCount))
                    .col(count(BallotResultNotice::Turnout))
                    .col(time(BallotResultNotice::PublishedAt))
                    .col(time(BallotResultNotice::VisibleUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BallotResultNotice::Table, BallotResultNotice::BallotId)
                            .to(Ballot::Table, Ballot::Id),
                    )
                    .foreign_key(&mut community_fk(
                        BallotResultNotice::Table,
                        BallotResultNotice::CommunityId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ballot_result_notice_community")
                    .table(BallotResultNotice::Table)
                    .col(BallotResultNotice::CommunityId)
                    .col(BallotResultNotice::Id)
                    .to_owned(),
            )
            .await?;

        // ---------- notifications outbox ----------
        manager
            .create_table(
                Table::create()
                    .table(NotificationOutbox::Table)
                    .col(uuid_pk(NotificationOutbox::Id))
                    .col(uuid(NotificationOutbox::CommunityId))
                    .col(text(NotificationOutbox::Event, 48))
                    .col(
                        ColumnDef::new(NotificationOutbox::Payload)
                            .json()
                            .not_null(),
                    )
                    .col(one_of(
                        NotificationOutbox::Status,
                        &["PENDING", "SENT", "FAILED"],
                    ))
                    .col(count(NotificationOutbox::Attempts))
                    .col(time_null(NotificationOutbox::LockedUntil))
                    .col(text_null(NotificationOutbox::LastError, 500))
                    .col(time(NotificationOutbox::CreatedAt))
                    .col(time_null(NotificationOutbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notification_outbox_status")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::Status)
                    .col(NotificationOutbox::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "Linli's migrations only move forward".into(),
        ))
    }
}
