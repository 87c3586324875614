use sea_orm::entity::prelude::*;

/// Who changed what, when, from what to what. Written by `api::audit` only,
/// in the same transaction as the change it records; never updated.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The community the record belongs to; none for region-level records.
    pub community_id: Option<Uuid>,
    /// The user who acted; none for the system (a scheduled close, the CLI).
    pub actor_id: Option<Uuid>,
    /// Set when the actor acted for someone else (a grid worker for a resident).
    pub on_behalf_of: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub action: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
