use sea_orm::entity::prelude::*;

/// An account of the points ledger. Its balance is changed only together
/// with a posting, in the same transaction; it always equals the points
/// posted to it minus the points posted from it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "point_account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub kind: AccountKind,
    /// The member who owns a MEMBER account; none for the community's accounts.
    pub owner_id: Option<Uuid>,
    /// Never below zero except for the ISSUING account (a CHECK constraint).
    pub balance: i64,
    /// Minutes of confirmed service paid into this account (for certificates).
    pub minutes_served: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AccountKind {
    /// The community's issuing account: points are created from it (EARN,
    /// ADJUST up) and return to it (REDEEM, EXPIRE, ADJUST down). Its balance
    /// is minus the points in circulation.
    #[sea_orm(string_value = "ISSUING")]
    Issuing,
    /// The community's donation pool (公益池): earned points above a member's cap.
    #[sea_orm(string_value = "DONATION_POOL")]
    DonationPool,
    #[sea_orm(string_value = "MEMBER")]
    Member,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
