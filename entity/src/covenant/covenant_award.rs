use sea_orm::entity::prelude::*;

/// An excellent covenant (优秀公约) named by a street or district for a year.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "covenant_award")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub covenant_id: Uuid,
    pub community_id: Uuid,
    /// The street or district that named it.
    pub region_id: Uuid,
    pub year: i32,
    pub awarded_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
