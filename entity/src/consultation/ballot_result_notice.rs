use sea_orm::entity::prelude::*;

/// The published result of a closed ballot (阳光公示).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ballot_result_notice")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub ballot_id: Uuid,
    pub target_kind: super::ballot::BallotTarget,
    pub target_id: Uuid,
    pub title: String,
    pub passed: bool,
    pub quorum_met: bool,
    pub electorate_size: i32,
    pub for_count: i32,
    pub against_count: i32,
    pub abstain_count: i32,
    pub turnout: i32,
    pub published_at: DateTimeUtc,
    pub visible_until: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
