use sea_orm::entity::prelude::*;

/// A service or good that points can buy, with its stock (never below zero).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub price_points: i32,
    pub stock: i32,
    /// The resource of the three lists it comes from (no foreign key until that domain lands).
    pub resource_id: Option<Uuid>,
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
