use sea_orm::entity::prelude::*;

/// One person's rating of a completed project (one per person; they may change it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_rating")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The delivering community.
    pub community_id: Uuid,
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub score: i32,
    pub comment: Option<String>,
    /// Rated as a livelihood observer (民生观察员) rather than a resident.
    pub as_observer: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
