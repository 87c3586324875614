use sea_orm::entity::prelude::*;

/// A community's time-credit rules. A community without a row uses the
/// defaults (`api::service::credits::settings`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_setting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub community_id: Uuid,
    /// What a new activity offers per hour unless its organiser says otherwise.
    pub points_per_hour_default: i32,
    /// At most this many minutes of one volunteer's service a day earn points.
    pub daily_cap_minutes: i32,
    /// A member balance never goes above this; earned points beyond it go to
    /// the community's donation pool. None: no cap.
    pub balance_cap: Option<i32>,
    /// Points older than this many months expire into the issuing account.
    pub validity_months: i32,
    pub transfer_policy: TransferPolicy,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TransferPolicy {
    /// Points may be given to any active member of the community.
    #[sea_orm(string_value = "ANY_MEMBER")]
    AnyMember,
    /// Only to a member of the giver's registered household.
    #[sea_orm(string_value = "FAMILY_ONLY")]
    FamilyOnly,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
