use sea_orm::entity::prelude::*;

/// A secret ballot's counters: the only place its choices are kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ballot_secret_tally")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ballot_id: Uuid,
    pub community_id: Uuid,
    pub for_count: i32,
    pub against_count: i32,
    pub abstain_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
