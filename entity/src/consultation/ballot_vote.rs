use sea_orm::entity::prelude::*;

/// The vote of one unit (a voter, or a household). `choice` is None on secret ballots.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ballot_vote")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ballot_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: Uuid,
    pub community_id: Uuid,
    pub voter_id: Uuid,
    pub choice: Option<super::ballot::Choice>,
    pub method: VoteMethod,
    pub recorded_by: Option<Uuid>,
    pub cast_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// How a vote was cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum VoteMethod {
    #[sea_orm(string_value = "ONLINE")]
    Online,
    #[sea_orm(string_value = "PAPER")]
    Paper,
    #[sea_orm(string_value = "PROXY")]
    Proxy,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
