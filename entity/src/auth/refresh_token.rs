use sea_orm::entity::prelude::*;

/// An opaque refresh token, stored only as its SHA-256 hash. Each use spends
/// it and issues the next one of the same family; using a spent one revokes
/// the whole family.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::org::user::Entity",
        from = "Column::UserId",
        to = "crate::org::user::Column::Id"
    )]
    User,
}

impl ActiveModelBehavior for ActiveModel {}
