use sea_orm::entity::prelude::*;

/// One per community (一社区一公约).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "covenant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub community_id: Uuid,
    pub created_at: DateTimeUtc,
    /// Touched by every change of a version's status, which also serialises
    /// those changes per covenant.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
