use sea_orm::entity::prelude::*;

/// A ballot (表决) on a proposal or a covenant version.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ballot")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub target_kind: BallotTarget,
    pub target_id: Uuid,
    pub council_id: Option<Uuid>,
    pub electorate: Electorate,
    pub pass_rule: PassRule,
    pub quorum: i32,
    pub secret: bool,
    pub status: BallotStatus,
    pub opens_at: DateTimeUtc,
    pub closes_at: DateTimeUtc,
    pub electorate_size: i32,
    pub opened_by: Uuid,
    pub closed_at: Option<DateTimeUtc>,
    pub closed_by: Option<Uuid>,
    pub passed: Option<bool>,
    pub quorum_met: Option<bool>,
    pub for_count: Option<i32>,
    pub against_count: Option<i32>,
    pub abstain_count: Option<i32>,
    pub turnout: Option<i32>,
    pub created_at: DateTimeUtc,
}

/// What a ballot decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum BallotTarget {
    #[sea_orm(string_value = "PROPOSAL")]
    Proposal,
    #[sea_orm(string_value = "COVENANT_VERSION")]
    CovenantVersion,
}

/// Who votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum Electorate {
    #[sea_orm(string_value = "COUNCIL")]
    Council,
    #[sea_orm(string_value = "HOUSEHOLDS")]
    Households,
    #[sea_orm(string_value = "RESIDENTS")]
    Residents,
}

/// When FOR wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PassRule {
    #[sea_orm(string_value = "MAJORITY_OF_CAST")]
    MajorityOfCast,
    #[sea_orm(string_value = "TWO_THIRDS_OF_ELECTORATE")]
    TwoThirdsOfElectorate,
}

/// A ballot's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum BallotStatus {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

/// A vote's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum Choice {
    #[sea_orm(string_value = "FOR")]
    For,
    #[sea_orm(string_value = "AGAINST")]
    Against,
    #[sea_orm(string_value = "ABSTAIN")]
    Abstain,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
