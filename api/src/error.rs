//! The service layer's one error type, and its one mapping to GraphQL errors.
//!
//! Every error a client can see carries `extensions.code` (one of
//! [`ErrorCode`]) and `extensions.reason` (one of [`Reason`], the precise
//! cause, stable, SCREAMING_SNAKE_CASE); the README's table of reasons is
//! generated from [`Reason::ALL`] (`cargo run -p api -- export-error-reasons`).
//!
//! `ServiceError` deliberately does not implement `Display`: async-graphql
//! converts any `Display` type into an error without a code, and keeping it
//! off means `?` in a resolver always goes through the mapping below.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// What a client reads while the database cannot be reached (PostgreSQL
/// down or restarting, or every pooled connection busy past the acquire
/// timeout): `UNAVAILABLE`, saying so, and that trying again later helps.
pub const DATABASE_UNAVAILABLE: &str = "数据库暂时无法访问，请稍后再试";

/// What a client reads while WeChat is busy or cannot be reached.
pub const WECHAT_UNAVAILABLE: &str = "微信服务繁忙，请稍后再试";

/// `retryAfter` (seconds) of an unreachable database: a restart or a
/// failover takes seconds, and a pool busy past its timeout frees sooner.
pub const DATABASE_RETRY_AFTER_SECS: i64 = 5;

/// `retryAfter` (seconds) of WeChat busy (errcode -1) or unreachable.
pub const WECHAT_RETRY_AFTER_SECS: i64 = 10;

/// A stable machine code (`extensions.code`) of every error a client can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    InvalidState,
    RateLimited,
    /// The HTTP request itself is wrong (its size, media type or shape),
    /// refused before any GraphQL runs.
    BadRequest,
    /// The document did not parse or validate, or is over the size, depth
    /// or complexity limits: never executed.
    ValidationFailed,
    /// The database or WeChat cannot be reached: trying again later helps
    /// (`extensions.retryAfter`, seconds).
    Unavailable,
    /// A bug.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// Declares [`Reason`]: each variant with its doc (when it happens, which
/// the README's table shows), its code and its stable name.
macro_rules! reasons {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $code:ident $name:literal, )+) => {
        /// The precise cause of an error (`extensions.reason`): stable, one
        /// name per cause, each belonging to one [`ErrorCode`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Reason {
            /// Every reason, in the order of the README's table.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The stable name a client matches on.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $name,)+ }
            }

            /// The code every error of this reason carries.
            pub fn code(self) -> ErrorCode {
                match self { $(Reason::$variant => ErrorCode::$code,)+ }
            }

            /// When it happens (the variant's doc comment).
            pub fn description(self) -> String {
                let lines: &[&str] = match self { $(Reason::$variant => &[$($doc),+],)+ };
                lines.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ")
            }
        }
    };
}

reasons! {
    // ---------- UNAUTHENTICATED ----------
    /// The operation needs a signed-in user and the request has no token.
    LoginRequired = Unauthenticated "LOGIN_REQUIRED",
    /// The session's account is gone, or the refresh token is unknown,
    /// expired, revoked or already spent: sign in again.
    SessionInvalid = Unauthenticated "SESSION_INVALID",
    /// Staff login refused: the phone number or the password is wrong, or
    /// the account is locked after repeated wrong passwords (one answer
    /// for all three, so that it tells nobody whether a phone has an
    /// account).
    CredentialsWrong = Unauthenticated "CREDENTIALS_WRONG",
    /// The access token has expired: refresh it.
    /// (Refused by the HTTP layer, before GraphQL runs.)
    TokenExpired = Unauthenticated "TOKEN_EXPIRED",
    /// The access token is malformed, forged or of an erased account.
    /// (Refused by the HTTP layer, before GraphQL runs.)
    TokenInvalid = Unauthenticated "TOKEN_INVALID",
    /// The token's account was erased since it was issued: over HTTP a 401,
    /// and an open socket is closed with 4403.
    /// (Refused by the HTTP layer, before GraphQL runs.)
    SessionRevoked = Unauthenticated "SESSION_REVOKED",

    // ---------- FORBIDDEN ----------
    /// The user's membership and roles do not allow the operation on this
    /// record (or the record belongs to another community).
    NotPermitted = Forbidden "NOT_PERMITTED",
    /// WeChat refuses this user as high risk (errcode 40226).
    WechatUserBlocked = Forbidden "WECHAT_USER_BLOCKED",

    // ---------- NOT_FOUND ----------
    /// The record does not exist, or the user may not see it.
    RecordNotFound = NotFound "RECORD_NOT_FOUND",

    // ---------- BAD_USER_INPUT (extensions.field names the field) ----------
    /// A field is wrong in a way no finer reason names.
    InvalidField = BadUserInput "INVALID_FIELD",
    /// A required text is empty, or a field needed in this case is missing.
    FieldRequired = BadUserInput "FIELD_REQUIRED",
    /// A text is longer than its limit.
    TextTooLong = BadUserInput "TEXT_TOO_LONG",
    /// Not a mainland China mobile number (11 digits, 1[3-9]…).
    PhoneMalformed = BadUserInput "PHONE_MALFORMED",
    /// A password shorter or longer than allowed.
    PasswordLengthInvalid = BadUserInput "PASSWORD_LENGTH_INVALID",
    /// Changing the password: the current password given is wrong.
    CurrentPasswordWrong = BadUserInput "CURRENT_PASSWORD_WRONG",
    /// An ID that is not one of Linli's IDs.
    IdMalformed = BadUserInput "ID_MALFORMED",
    /// A pagination cursor that this list did not issue.
    CursorInvalid = BadUserInput "CURSOR_INVALID",
    /// `first` below zero or above the page limit.
    PageSizeOutOfRange = BadUserInput "PAGE_SIZE_OUT_OF_RANGE",
    /// A number, an amount or a count of items outside its allowed range.
    ValueOutOfRange = BadUserInput "VALUE_OUT_OF_RANGE",
    /// A time or date in the past where a future one is needed, an end not
    /// after its start, or a period too long.
    TimeRangeInvalid = BadUserInput "TIME_RANGE_INVALID",
    /// The field names a record that does not fit here: not a member of
    /// this community, of another community or street, of another version.
    ReferenceInvalid = BadUserInput "REFERENCE_INVALID",
    /// The same item appears twice in one input.
    DuplicateInInput = BadUserInput "DUPLICATE_IN_INPUT",
    /// The input names its own subject where another is needed: points or a
    /// proxy to oneself, a proposal merged into itself.
    SelfReference = BadUserInput "SELF_REFERENCE",
    /// The community allows point transfers only within one household.
    TransferFamilyOnly = BadUserInput "TRANSFER_FAMILY_ONLY",
    /// WeChat login: the code is wrong, expired or already used (40029, 40163).
    WechatCodeInvalid = BadUserInput "WECHAT_CODE_INVALID",
    /// Checking in to (or out of) an activity or a meeting: the code is
    /// wrong or has expired.
    CheckInCodeWrong = BadUserInput "CHECK_IN_CODE_WRONG",
    /// Handing over a redemption: the pick-up code is wrong.
    PickupCodeWrong = BadUserInput "PICKUP_CODE_WRONG",

    // ---------- GRAPHQL_VALIDATION_FAILED ----------
    /// The document does not parse, or does not validate against the
    /// schema (an unknown field, a wrong argument), or is over the depth or
    /// complexity limit (async-graphql's own errors, coded by the HTTP layer).
    QueryInvalid = ValidationFailed "QUERY_INVALID",
    /// The document's text is over 64 KB (refused before parsing; long
    /// texts belong in `variables`).
    DocumentTooLarge = ValidationFailed "DOCUMENT_TOO_LARGE",
    /// The document selects too many fields (aliases included).
    TooManyFields = ValidationFailed "TOO_MANY_FIELDS",
    /// The document uses too many directives.
    TooManyDirectives = ValidationFailed "TOO_MANY_DIRECTIVES",
    /// The document nests selections too deep.
    DocumentTooDeep = ValidationFailed "DOCUMENT_TOO_DEEP",

    // ---------- BAD_REQUEST (the HTTP request, before GraphQL) ----------
    /// The body is over `MAX_BODY_BYTES` (413).
    BodyTooLarge = BadRequest "BODY_TOO_LARGE",
    /// A POST body that is not `application/json` (415).
    UnsupportedMediaType = BadRequest "UNSUPPORTED_MEDIA_TYPE",
    /// Not one GraphQL request: invalid JSON, a batch, no `query`, or
    /// `variables` / `operationName` of the wrong type (400).
    MalformedRequest = BadRequest "MALFORMED_REQUEST",
    /// A mutation sent with GET (405, `Allow: POST`).
    MutationOverGet = BadRequest "MUTATION_OVER_GET",

    // ---------- CONFLICT ----------
    /// Another account already has this phone number.
    PhoneTaken = Conflict "PHONE_TAKEN",
    /// The name is taken: a region under the same parent, an organisation
    /// in the street, a council or a volunteer team in the community.
    NameTaken = Conflict "NAME_TAKEN",
    /// Joining a community: the user's application is already waiting.
    MembershipPending = Conflict "MEMBERSHIP_PENDING",
    /// Joining a community: the user is already a member.
    AlreadyMember = Conflict "ALREADY_MEMBER",
    /// The person already holds this office in this region.
    AlreadyHoldsOffice = Conflict "ALREADY_HOLDS_OFFICE",
    /// The person already represents this organisation.
    AlreadyRepresentative = Conflict "ALREADY_REPRESENTATIVE",
    /// The volunteer is already in this team.
    AlreadyInTeam = Conflict "ALREADY_IN_TEAM",
    /// This need and this resource are already matched.
    MatchAlreadyConfirmed = Conflict "MATCH_ALREADY_CONFIRMED",
    /// The user has already seconded this proposal.
    AlreadySeconded = Conflict "ALREADY_SECONDED",
    /// The user has already reported this comment.
    AlreadyReported = Conflict "ALREADY_REPORTED",
    /// The user has already signed up for this activity.
    AlreadySignedUp = Conflict "ALREADY_SIGNED_UP",
    /// The household has already pledged to keep the covenant in force.
    AlreadyPledged = Conflict "ALREADY_PLEDGED",
    /// This covenant version is already filed.
    AlreadyFiled = Conflict "ALREADY_FILED",
    /// The covenant is already commended as excellent this year.
    AlreadyCommended = Conflict "ALREADY_COMMENDED",
    /// The covenant already has a version being revised.
    DraftExists = Conflict "DRAFT_EXISTS",
    /// The proposal or covenant version already has a ballot not yet closed.
    BallotExists = Conflict "BALLOT_EXISTS",
    /// Secret ballot: the voter (or their household) has voted already, and
    /// a secret vote cannot be repeated or changed.
    AlreadyVoted = Conflict "ALREADY_VOTED",
    /// Staff recorded a paper vote for this voter: no online vote.
    VotedOnPaper = Conflict "VOTED_ON_PAPER",
    /// The voter (or their household) voted themselves: no paper vote, no
    /// proxy vote, no new proxy.
    VotedInPerson = Conflict "VOTED_IN_PERSON",
    /// A proxy holder already voted for this voter.
    VotedByProxy = Conflict "VOTED_BY_PROXY",
    /// The voter has given a proxy: revoke it first to vote or to give another.
    ProxyGiven = Conflict "PROXY_GIVEN",
    /// The proxy was revoked before the holder voted.
    ProxyRevoked = Conflict "PROXY_REVOKED",
    /// The holder holds as many proxies in this ballot as the community allows.
    ProxyLimitReached = Conflict "PROXY_LIMIT_REACHED",
    /// Two votes for one voter raced; trying again answers which one counted.
    VoteConflict = Conflict "VOTE_CONFLICT",
    /// Someone else changed the same covenant or settings at the same time:
    /// reload and try again.
    ConcurrentEdit = Conflict "CONCURRENT_EDIT",
    /// The idempotency key was already used for a different request.
    IdempotencyKeyReused = Conflict "IDEMPOTENCY_KEY_REUSED",
    /// A pledged resource has too little left, or is no longer available.
    ResourceInsufficient = Conflict "RESOURCE_INSUFFICIENT",

    // ---------- INVALID_STATE ----------
    /// The record changed since it was read (someone else acted on it
    /// first): reload and try again.
    StaleState = InvalidState "STALE_STATE",
    /// The ballot has closed (or was cancelled).
    BallotClosed = InvalidState "BALLOT_CLOSED",
    /// The ballot is scheduled and has not opened yet.
    BallotNotOpen = InvalidState "BALLOT_NOT_OPEN",
    /// The ballot has opened: it can no longer be changed or cancelled.
    BallotStarted = InvalidState "BALLOT_STARTED",
    /// No member is entitled to vote in the ballot asked for.
    NoEligibleVoters = InvalidState "NO_ELIGIBLE_VOTERS",
    /// The proxy was already used or revoked.
    ProxyNotRevocable = InvalidState "PROXY_NOT_REVOCABLE",
    /// The account has fewer points than the posting takes.
    InsufficientPoints = InvalidState "INSUFFICIENT_POINTS",
    /// The receiving account would go above the community's balance cap.
    BalanceCapReached = InvalidState "BALANCE_CAP_REACHED",
    /// The posting has been reversed already.
    AlreadyReversed = InvalidState "ALREADY_REVERSED",
    /// This posting cannot be reversed (a reversal itself, or a redemption,
    /// which is undone by cancelling it).
    ReversalNotAllowed = InvalidState "REVERSAL_NOT_ALLOWED",
    /// The catalogue item has been taken off the shelf.
    ItemWithdrawn = InvalidState "ITEM_WITHDRAWN",
    /// The catalogue item has too little stock.
    OutOfStock = InvalidState "OUT_OF_STOCK",
    /// The redemption is no longer waiting to be picked up.
    RedemptionNotReserved = InvalidState "REDEMPTION_NOT_RESERVED",
    /// The activity has been cancelled.
    ActivityCancelled = InvalidState "ACTIVITY_CANCELLED",
    /// The activity has started: no more sign-ups, cancelling or withdrawing.
    ActivityStarted = InvalidState "ACTIVITY_STARTED",
    /// The activity has not ended: its hours cannot be confirmed yet.
    ActivityNotEnded = InvalidState "ACTIVITY_NOT_ENDED",
    /// The volunteer has no sign-up (or cancelled it) for the activity.
    NotSignedUp = InvalidState "NOT_SIGNED_UP",
    /// Checking in or out outside the window around the activity or meeting.
    OutsideCheckInWindow = InvalidState "OUTSIDE_CHECK_IN_WINDOW",
    /// Checking in to an activity twice.
    AlreadyCheckedIn = InvalidState "ALREADY_CHECKED_IN",
    /// Checking out of an activity without having checked in, or twice.
    CheckOutRefused = InvalidState "CHECK_OUT_REFUSED",
    /// The volunteer has no check-in and check-out to confirm hours from.
    AttendanceMissing = InvalidState "ATTENDANCE_MISSING",
    /// The volunteer's hours for this activity are confirmed already.
    HoursAlreadyConfirmed = InvalidState "HOURS_ALREADY_CONFIRMED",
    /// The volunteer already has confirmed hours in an overlapping activity.
    HoursOverlap = InvalidState "HOURS_OVERLAP",
    /// A team's leader cannot be removed from it.
    TeamLeaderRequired = InvalidState "TEAM_LEADER_REQUIRED",
    /// The proposal is seconded or under review: it can no longer be edited.
    ProposalLocked = InvalidState "PROPOSAL_LOCKED",
    /// The author cannot second their own proposal.
    OwnProposal = InvalidState "OWN_PROPOSAL",
    /// The proposal no longer collects seconds.
    SecondingClosed = InvalidState "SECONDING_CLOSED",
    /// The proposal's status does not allow this step (accepting, rejecting,
    /// merging, balloting, completing, rating).
    ProposalStatusWrong = InvalidState "PROPOSAL_STATUS_WRONG",
    /// The proposal's discussion is closed: no more comments.
    DiscussionClosed = InvalidState "DISCUSSION_CLOSED",
    /// The comment is hidden already.
    CommentHidden = InvalidState "COMMENT_HIDDEN",
    /// The meeting has not started: no minutes yet.
    MeetingNotStarted = InvalidState "MEETING_NOT_STARTED",
    /// The membership's status does not allow this step (approving or
    /// rejecting what is not pending, changing who is not a member).
    MembershipStatusWrong = InvalidState "MEMBERSHIP_STATUS_WRONG",
    /// The user is no longer a member of the community.
    NotAMember = InvalidState "NOT_A_MEMBER",
    /// The need's status does not allow this step.
    NeedStatusWrong = InvalidState "NEED_STATUS_WRONG",
    /// The resource's status does not allow this step (withdrawn, used up,
    /// reserved by a project, not available).
    ResourceStatusWrong = InvalidState "RESOURCE_STATUS_WRONG",
    /// The project's status does not allow this step.
    ProjectStatusWrong = InvalidState "PROJECT_STATUS_WRONG",
    /// The covenant version's status does not allow this step.
    CovenantStatusWrong = InvalidState "COVENANT_STATUS_WRONG",
    /// The covenant's consultation period has not ended yet.
    ConsultationNotOver = InvalidState "CONSULTATION_NOT_OVER",
    /// The community has no covenant in force.
    NoCovenantInForce = InvalidState "NO_COVENANT_IN_FORCE",
    /// Erasing the account: the user still has points to spend or give away.
    PointsUnspent = InvalidState "POINTS_UNSPENT",
    /// Erasing the account: the user has a redemption not yet picked up.
    RedemptionPending = InvalidState "REDEMPTION_PENDING",
    /// This deployment has no WeChat app ID or secret.
    WechatNotConfigured = InvalidState "WECHAT_NOT_CONFIGURED",

    // ---------- RATE_LIMITED (extensions.retryAfter, seconds) ----------
    /// Too many requests from this client address (429, `Retry-After`).
    /// (Refused by the HTTP layer, before GraphQL runs.)
    RateLimitedIp = RateLimited "RATE_LIMITED_IP",
    /// Too many requests from this user (429, `Retry-After`).
    /// (Refused by the HTTP layer, before GraphQL runs.)
    RateLimitedUser = RateLimited "RATE_LIMITED_USER",
    /// WeChat says too many logins (errcode 45011).
    WechatRateLimited = RateLimited "WECHAT_RATE_LIMITED",

    // ---------- UNAVAILABLE (extensions.retryAfter, seconds) ----------
    /// The database cannot be reached (down, restarting, or every
    /// connection busy past the acquire timeout).
    DatabaseUnavailable = Unavailable "DATABASE_UNAVAILABLE",
    /// WeChat is busy (errcode -1), cannot be reached, or answered
    /// something unreadable.
    WechatUnavailable = Unavailable "WECHAT_UNAVAILABLE",

    // ---------- INTERNAL ----------
    /// A bug: the cause is logged, not shown.
    InternalError = Internal "INTERNAL_ERROR",
}

#[derive(Debug)]
pub enum ServiceError {
    /// No valid session, or the credentials were wrong.
    Unauthenticated(Reason, &'static str),
    Forbidden(Reason),
    /// What was not found, in Chinese (“社区”, “成员申请”): `RECORD_NOT_FOUND`.
    NotFound(&'static str),
    /// A field of the input is wrong: its GraphQL name, why, and what is
    /// wrong in Chinese.
    BadInput {
        field: &'static str,
        reason: Reason,
        message: String,
    },
    Conflict(Reason, String),
    /// The record is not in a state that allows the operation.
    InvalidState(Reason, String),
    RateLimited {
        reason: Reason,
        message: String,
        retry_after_secs: i64,
    },
    /// The database or WeChat is down or busy: `UNAVAILABLE`, with a message
    /// that says so and `retryAfter`.
    Unavailable {
        reason: Reason,
        message: &'static str,
        retry_after_secs: i64,
    },
    /// A bug; the cause is logged, not shown.
    Internal(anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// The session's account is gone (or the refresh token is spent): the
    /// client signs in again.
    pub fn session_invalid() -> Self {
        ServiceError::Unauthenticated(Reason::SessionInvalid, "登录已失效，请重新登录")
    }

    pub fn bad_input(reason: Reason, field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::BadInput {
            field,
            reason,
            message: message.into(),
        }
    }

    pub fn invalid_state(reason: Reason, message: impl Into<String>) -> Self {
        ServiceError::InvalidState(reason, message.into())
    }

    pub fn conflict(reason: Reason, message: impl Into<String>) -> Self {
        ServiceError::Conflict(reason, message.into())
    }

    /// The database cannot be reached.
    pub fn database_unavailable() -> Self {
        ServiceError::Unavailable {
            reason: Reason::DatabaseUnavailable,
            message: DATABASE_UNAVAILABLE,
            retry_after_secs: DATABASE_RETRY_AFTER_SECS,
        }
    }

    /// WeChat is busy or cannot be reached.
    pub fn wechat_unavailable() -> Self {
        ServiceError::Unavailable {
            reason: Reason::WechatUnavailable,
            message: WECHAT_UNAVAILABLE,
            retry_after_secs: WECHAT_RETRY_AFTER_SECS,
        }
    }

    /// Something the client cannot fix; a database that cannot be reached
    /// becomes [`ServiceError::Unavailable`], and a known constraint's
    /// violation the error [`constraint_violation`] names.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        if let Some(err) = cause.downcast_ref::<DbErr>() {
            if database_unreachable(err) {
                tracing::warn!(error = %cause, "the database cannot be reached");
                return ServiceError::database_unavailable();
            }
            if let Some(known) = constraint_violation(err) {
                return known.error();
            }
        }
        ServiceError::Internal(cause)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Unauthenticated(..) => ErrorCode::Unauthenticated,
            ServiceError::Forbidden(_) => ErrorCode::Forbidden,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::BadInput { .. } => ErrorCode::BadUserInput,
            ServiceError::Conflict(..) => ErrorCode::Conflict,
            ServiceError::InvalidState(..) => ErrorCode::InvalidState,
            ServiceError::RateLimited { .. } => ErrorCode::RateLimited,
            ServiceError::Unavailable { .. } => ErrorCode::Unavailable,
            ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The precise cause.
    pub fn reason(&self) -> Reason {
        match self {
            ServiceError::Unauthenticated(reason, _)
            | ServiceError::Forbidden(reason)
            | ServiceError::BadInput { reason, .. }
            | ServiceError::Conflict(reason, _)
            | ServiceError::InvalidState(reason, _)
            | ServiceError::RateLimited { reason, .. }
            | ServiceError::Unavailable { reason, .. } => *reason,
            ServiceError::NotFound(_) => Reason::RecordNotFound,
            ServiceError::Internal(_) => Reason::InternalError,
        }
    }

    /// The message a resident reads.
    pub fn message(&self) -> String {
        match self {
            ServiceError::Unauthenticated(_, why) => (*why).to_string(),
            ServiceError::Forbidden(_) => "您没有权限进行此操作".to_string(),
            ServiceError::NotFound(what) => format!("{what}不存在或您无权查看"),
            ServiceError::BadInput { message, .. } => message.clone(),
            ServiceError::Conflict(_, message) => message.clone(),
            ServiceError::InvalidState(_, message) => message.clone(),
            ServiceError::RateLimited { message, .. } => message.clone(),
            ServiceError::Unavailable { message, .. } => (*message).to_string(),
            ServiceError::Internal(_) => "服务器内部错误，请稍后再试".to_string(),
        }
    }

    /// Seconds after which trying again may help (RATE_LIMITED, UNAVAILABLE).
    pub fn retry_after_secs(&self) -> Option<i64> {
        match self {
            ServiceError::RateLimited {
                retry_after_secs, ..
            }
            | ServiceError::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<DbErr> for ServiceError {
    fn from(err: DbErr) -> Self {
        ServiceError::internal(err)
    }
}

/// Whether a database error means the database could not be reached (no
/// connection within the acquire timeout, a connection lost, PostgreSQL
/// shutting down or starting up, SQLite busy past its timeout) rather than
/// a fault of the statement.
pub fn database_unreachable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::Internal(_)) => true,
        DbErr::Conn(RuntimeErr::SqlxError(cause))
        | DbErr::Exec(RuntimeErr::SqlxError(cause))
        | DbErr::Query(RuntimeErr::SqlxError(cause)) => sqlx_unreachable(cause),
        _ => false,
    }
}

fn sqlx_unreachable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception); 57P01 admin
            // shutdown, 57P02 crash shutdown, 57P03 cannot connect now.
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (past the busy timeout).
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}

/// A database constraint whose violation is a client's error, not a bug:
/// what the client is told when a statement breaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// Its name in PostgreSQL (an index's name, or `<table>_pkey`).
    pub name: &'static str,
    /// What SQLite names in its message: the columns of a unique key
    /// (`table.col, table.col`), or a CHECK's name (see [`CONSTRAINTS`]).
    pub sqlite: &'static str,
    pub reason: Reason,
    pub message: &'static str,
}

impl Constraint {
    pub fn code(&self) -> ErrorCode {
        self.reason.code()
    }

    pub fn error(&self) -> ServiceError {
        match self.code() {
            ErrorCode::InvalidState => ServiceError::invalid_state(self.reason, self.message),
            _ => ServiceError::conflict(self.reason, self.message),
        }
    }
}

const fn unique(
    name: &'static str,
    sqlite: &'static str,
    reason: Reason,
    message: &'static str,
) -> Constraint {
    Constraint {
        name,
        sqlite,
        reason,
        message,
    }
}

/// A CHECK constraint: built as [`unique`] is; the table names the kind.
const fn check(
    name: &'static str,
    sqlite: &'static str,
    reason: Reason,
    message: &'static str,
) -> Constraint {
    unique(name, sqlite, reason, message)
}

/// Every constraint whose violation a client may cause, by name. A
/// violation of a constraint not listed is a bug (INTERNAL). Checked
/// against the migrated schema of both back ends by
/// `tests/database_constraints.rs`.
pub const CONSTRAINTS: &[Constraint] = &[
    unique(
        "ux_region_parent_name",
        "region.parent_id, region.name",
        Reason::NameTaken,
        "同一上级下已有同名区域",
    ),
    unique(
        "ux_region_officer",
        "region_officer.user_id, region_officer.region_id, region_officer.role",
        Reason::AlreadyHoldsOffice,
        "此人已担任该职务",
    ),
    unique(
        "ux_membership_community_user",
        "membership.community_id, membership.user_id",
        Reason::MembershipPending,
        "您已提交入社申请，请等待社区审核",
    ),
    unique(
        "ux_users_login_phone_blind_index",
        "users.login_phone_blind_index",
        Reason::PhoneTaken,
        "该手机号已被其他账号使用",
    ),
    unique(
        "ux_organisation_street_name",
        "organisation.street_id, organisation.name",
        Reason::NameTaken,
        "本街道已有同名组织",
    ),
    unique(
        "ux_organisation_representative",
        "organisation_representative.organisation_id, organisation_representative.user_id",
        Reason::AlreadyRepresentative,
        "此人已是该组织的代表",
    ),
    unique(
        "ux_need_match",
        "need_match.need_id, need_match.resource_id",
        Reason::MatchAlreadyConfirmed,
        "该需求与资源的匹配已确认过",
    ),
    unique(
        "ux_council_community_name",
        "council.community_id, council.name",
        Reason::NameTaken,
        "本社区已有同名议事会",
    ),
    unique(
        "proposal_second_pkey",
        "proposal_second.proposal_id, proposal_second.user_id",
        Reason::AlreadySeconded,
        "您已附议过该议题",
    ),
    unique(
        "comment_report_pkey",
        "comment_report.comment_id, comment_report.user_id",
        Reason::AlreadyReported,
        "您已举报过该评论",
    ),
    unique(
        "consultation_setting_pkey",
        "consultation_setting.community_id",
        Reason::ConcurrentEdit,
        "设置已被他人修改，请刷新后重试",
    ),
    unique(
        "ux_ballot_live_target",
        "ballot.target_kind, ballot.target_id",
        Reason::BallotExists,
        "该议题或公约版本已有未结束的表决",
    ),
    unique(
        "ballot_vote_pkey",
        "ballot_vote.ballot_id, ballot_vote.unit_id",
        Reason::AlreadyVoted,
        "已投过票：不记名投票不能重复投票或更改",
    ),
    unique(
        "ux_ballot_proxy_principal",
        "ballot_proxy.ballot_id, ballot_proxy.principal_id",
        Reason::ProxyGiven,
        "您已委托他人，如需更换请先撤销",
    ),
    unique(
        "ux_volunteer_team_name",
        "volunteer_team.community_id, volunteer_team.name",
        Reason::NameTaken,
        "本社区已有同名的志愿服务队",
    ),
    unique(
        "ux_team_member",
        "team_member.team_id, team_member.user_id",
        Reason::AlreadyInTeam,
        "该志愿者已在队中",
    ),
    unique(
        "ux_activity_signup",
        "activity_signup.activity_id, activity_signup.user_id",
        Reason::AlreadySignedUp,
        "您已报名该活动",
    ),
    unique(
        "posting_reverses_posting_id_key",
        "posting.reverses_posting_id",
        Reason::AlreadyReversed,
        "该笔流水已冲正，不能重复冲正",
    ),
    // Only the issuing account may go below zero: point_account's first
    // table CHECK, `CHECK ("kind" = 'ISSUING' OR "balance" >= 0)`. PostgreSQL
    // names it point_account_check. SQLite names an unnamed CHECK after its
    // text, dequoted as an identifier would be, so it reports this one as
    // `kind` — as it does point_account's column CHECK `kind IN (…)`, which
    // no request can break (kind is written from a Rust enum only).
    check(
        "point_account_check",
        "kind",
        Reason::InsufficientPoints,
        "积分余额不足",
    ),
    unique(
        "covenant_community_id_key",
        "covenant.community_id",
        Reason::ConcurrentEdit,
        "有人同时在修改公约，请刷新后重试",
    ),
    unique(
        "ux_covenant_version_number",
        "covenant_version.covenant_id, covenant_version.number",
        Reason::ConcurrentEdit,
        "有人同时在修改公约，请刷新后重试",
    ),
    unique(
        "ux_covenant_rating_once",
        "covenant_rating.version_id, covenant_rating.rater_id",
        Reason::ConcurrentEdit,
        "有人同时在修改公约，请刷新后重试",
    ),
    unique(
        "ux_covenant_pledge_once",
        "covenant_pledge.version_id, covenant_pledge.user_id",
        Reason::AlreadyPledged,
        "您已承诺遵守现行公约",
    ),
    unique(
        "covenant_filing_version_id_key",
        "covenant_filing.version_id",
        Reason::AlreadyFiled,
        "该版本已备案",
    ),
    unique(
        "ux_covenant_award_year",
        "covenant_award.covenant_id, covenant_award.region_id, covenant_award.year",
        Reason::AlreadyCommended,
        "该公约本年度已被评为优秀",
    ),
];

/// The known constraint a unique, check or foreign-key violation broke, by
/// the constraint's name: PostgreSQL reports the name; SQLite reports a
/// unique key's columns (`UNIQUE constraint failed: t.a, t.b`) and an
/// unnamed CHECK's expression, which [`Constraint::sqlite`] holds.
pub fn constraint_violation(err: &DbErr) -> Option<&'static Constraint> {
    use sea_orm::sqlx::error::ErrorKind;
    let (DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))) =
        err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = &**cause else {
        return None;
    };
    if !matches!(
        db.kind(),
        ErrorKind::UniqueViolation | ErrorKind::CheckViolation | ErrorKind::ForeignKeyViolation
    ) {
        return None;
    }
    let found = match db.constraint() {
        Some(name) => CONSTRAINTS.iter().find(|c| c.name == name),
        None => {
            let message = db.message();
            let key = ["UNIQUE constraint failed: ", "CHECK constraint failed: "]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .unwrap_or(message);
            CONSTRAINTS
                .iter()
                .find(|c| c.sqlite == key || c.name == key)
        }
    };
    if found.is_none() {
        tracing::error!(
            constraint = db.constraint().unwrap_or_default(),
            message = db.message(),
            "a constraint not in error::CONSTRAINTS was violated"
        );
    }
    found
}

impl From<ServiceError> for async_graphql::Error {
    fn from(err: ServiceError) -> Self {
        if let ServiceError::Internal(cause) = &err {
            // The whole chain goes to the log; the client gets the short message.
            tracing::error!(error = ?cause, "internal error");
        }
        let code = err.code();
        let reason = err.reason();
        debug_assert_eq!(
            reason.code(),
            code,
            "{} belongs to {}",
            reason.as_str(),
            reason.code().as_str()
        );
        let message = err.message();
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            ext.set("reason", reason.as_str());
            if let ServiceError::BadInput { field, .. } = &err {
                ext.set("field", *field);
            }
            if let Some(secs) = err.retry_after_secs() {
                ext.set("retryAfter", secs);
            }
        })
    }
}

/// A GraphQL error raised by the API layer itself (a malformed ID or cursor),
/// with the same shape as the service errors.
pub fn api_error(err: ServiceError) -> async_graphql::Error {
    err.into()
}

/// The README's table of reasons, generated from [`Reason::ALL`]
/// (`cargo run -p api -- export-error-reasons`).
pub fn reasons_table() -> String {
    let mut table = String::from("| Code | Reason | When |\n|---|---|---|\n");
    for reason in Reason::ALL {
        table.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            reason.code().as_str(),
            reason.as_str(),
            reason.description().replace('|', "\\|")
        ));
    }
    table
}

/// The markers around the generated table in the README.
pub const README_REASONS_START: &str = "<!-- reasons:start -->";
pub const README_REASONS_END: &str = "<!-- reasons:end -->";

/// `readme` with the text between the markers replaced by [`reasons_table`];
/// None without the markers.
pub fn with_reasons_table(readme: &str) -> Option<String> {
    let start = readme.find(README_REASONS_START)? + README_REASONS_START.len();
    let end = start + readme[start..].find(README_REASONS_END)?;
    Some(format!(
        "{}\n{}{}",
        &readme[..start],
        reasons_table(),
        &readme[end..]
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::*;

    fn io(kind: std::io::ErrorKind) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            std::io::Error::from(kind),
        ))))
    }

    #[test]
    fn an_unreachable_database_is_told_apart_from_a_bad_statement() {
        assert!(database_unreachable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(database_unreachable(&io(
            std::io::ErrorKind::ConnectionReset
        )));
        assert!(database_unreachable(&DbErr::Exec(RuntimeErr::SqlxError(
            Arc::new(sea_orm::sqlx::Error::PoolTimedOut)
        ))));
        assert!(!database_unreachable(&DbErr::RecordNotFound("x".into())));
        assert!(!database_unreachable(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(sea_orm::sqlx::Error::RowNotFound)
        ))));
    }

    #[test]
    fn an_unreachable_database_is_unavailable_with_retry_after() {
        let err = ServiceError::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!(err.code(), ErrorCode::Unavailable);
        assert_eq!(err.reason(), Reason::DatabaseUnavailable);
        assert_eq!(err.message(), DATABASE_UNAVAILABLE);
        assert_eq!(err.retry_after_secs(), Some(DATABASE_RETRY_AFTER_SECS));
        let err = ServiceError::internal(io(std::io::ErrorKind::BrokenPipe));
        assert_eq!(err.reason(), Reason::DatabaseUnavailable);
        let err = ServiceError::from(DbErr::Custom("bug".into()));
        assert_eq!(err.code(), ErrorCode::Internal);
        assert_eq!(err.reason(), Reason::InternalError);
        assert_eq!(err.message(), "服务器内部错误，请稍后再试");
        assert_eq!(err.retry_after_secs(), None);
    }

    fn screaming_snake(camel: &str) -> String {
        let mut out = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn every_reason_is_named_after_its_variant_once_and_described() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert_eq!(reason.as_str(), screaming_snake(&format!("{reason:?}")));
            assert!(seen.insert(reason.as_str()), "{} twice", reason.as_str());
            assert!(!reason.description().is_empty());
        }
    }

    #[test]
    fn constraints_map_to_conflicts_or_refused_states_once_each() {
        let mut names = std::collections::HashSet::new();
        for constraint in CONSTRAINTS {
            assert!(names.insert(constraint.name), "{} twice", constraint.name);
            assert!(
                matches!(
                    constraint.code(),
                    ErrorCode::Conflict | ErrorCode::InvalidState
                ),
                "{}",
                constraint.name
            );
            assert_eq!(constraint.error().reason(), constraint.reason);
            assert_eq!(constraint.error().message(), constraint.message);
        }
    }

    /// `cargo run -q -p api -- export-error-reasons --write README.md`
    /// rewrites the table.
    #[test]
    fn the_readme_lists_every_reason() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap_or_default();
        let generated = with_reasons_table(&readme);
        assert!(
            generated.is_some(),
            "README.md has the {README_REASONS_START} and {README_REASONS_END} markers"
        );
        assert!(
            generated.as_deref() == Some(readme.as_str()),
            "README.md's table of error reasons differs from error::Reason: run \
             `cargo run -q -p api -- export-error-reasons --write README.md` \
             (from the repository root) to rewrite it"
        );
    }
}
