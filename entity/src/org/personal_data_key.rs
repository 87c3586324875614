use sea_orm::entity::prelude::*;

/// The fingerprint of the key that seals this database's personal data
/// (`api::crypto`): one row (id 1), written on the first start. A process
/// whose key has another fingerprint refuses to start.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_data_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub fingerprint: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
