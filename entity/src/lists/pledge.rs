use sea_orm::entity::prelude::*;

/// Units of a resource pledged to a project: RESERVED while the project runs,
/// then CONSUMED (`used_quantity` of them) or RELEASED.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pledge")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The project's community.
    pub community_id: Uuid,
    pub project_id: Uuid,
    pub resource_id: Uuid,
    pub quantity: i32,
    pub used_quantity: Option<i32>,
    pub status: PledgeStatus,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum PledgeStatus {
    #[sea_orm(string_value = "RESERVED")]
    Reserved,
    #[sea_orm(string_value = "CONSUMED")]
    Consumed,
    #[sea_orm(string_value = "RELEASED")]
    Released,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
