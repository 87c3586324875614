use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "covenant_version")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub covenant_id: Uuid,
    pub community_id: Uuid,
    /// 1, 2, 3… per covenant.
    pub number: i32,
    pub status: CovenantStatus,
    /// Residents comment until then (set when comment opens).
    pub comment_until: Option<DateTimeUtc>,
    /// The ballot that decides adoption, once one is opened.
    pub ballot_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When it came into force.
    pub in_force_at: Option<DateTimeUtc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CovenantStatus {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "IN_COMMENT")]
    InComment,
    #[sea_orm(string_value = "VOTING")]
    Voting,
    #[sea_orm(string_value = "IN_FORCE")]
    InForce,
    #[sea_orm(string_value = "SUPERSEDED")]
    Superseded,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
