use sea_orm::entity::prelude::*;

/// An entry of the needs list (需求清单). `requester_id` is the resident the
/// need is for; `submitted_by` who entered it (themself, a grid worker or staff).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "need")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub requester_id: Uuid,
    pub submitted_by: Uuid,
    pub beneficiary_group: BeneficiaryGroup,
    pub category: String,
    pub urgency: Urgency,
    /// 1 (LOW) … 4 (URGENT), for the staff queue.
    pub urgency_rank: i16,
    pub title: String,
    pub description: String,
    pub status: NeedStatus,
    /// Why it was rejected.
    pub status_reason: Option<String>,
    /// The project that currently takes it on.
    pub project_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum BeneficiaryGroup {
    #[sea_orm(string_value = "ELDERLY_ALONE")]
    ElderlyAlone,
    #[sea_orm(string_value = "DISABLED")]
    Disabled,
    #[sea_orm(string_value = "CHILD_IN_DIFFICULTY")]
    ChildInDifficulty,
    #[sea_orm(string_value = "LOW_INCOME")]
    LowIncome,
    #[sea_orm(string_value = "GENERAL")]
    General,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum Urgency {
    #[sea_orm(string_value = "LOW")]
    Low,
    #[sea_orm(string_value = "NORMAL")]
    Normal,
    #[sea_orm(string_value = "HIGH")]
    High,
    #[sea_orm(string_value = "URGENT")]
    Urgent,
}

impl Urgency {
    pub fn rank(self) -> i16 {
        match self {
            Urgency::Low => 1,
            Urgency::Normal => 2,
            Urgency::High => 3,
            Urgency::Urgent => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum NeedStatus {
    #[sea_orm(string_value = "SUBMITTED")]
    Submitted,
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "MATCHED")]
    Matched,
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "FULFILLED")]
    Fulfilled,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
