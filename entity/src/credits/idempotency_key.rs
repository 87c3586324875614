use sea_orm::entity::prelude::*;

/// A client request that posted points, by its idempotency key (unique per
/// community), with a hash of the request and what it produced.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub key: String,
    /// The operation (`transfer`, `adjust`, `confirm`, `redeem`, `reverse`).
    pub operation: String,
    pub actor_id: Uuid,
    /// SHA-256 (hex) of the operation, the caller and every argument.
    pub request_hash: String,
    /// The ids the first request returned, comma-separated, in order.
    pub result_ids: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
