use sea_orm::entity::prelude::*;

/// Points spent on a catalogue item: stock is reserved and points spent
/// together; picked up with the code (FULFILLED) or cancelled (both refunded).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemption")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub item_id: Uuid,
    pub user_id: Uuid,
    pub quantity: i32,
    /// Points spent: price × quantity at the time of redeeming.
    pub points: i32,
    pub status: RedemptionStatus,
    pub pickup_code: String,
    /// The REDEEM posting that spent the points.
    pub posting_id: Option<Uuid>,
    /// The reversing posting that refunded them on cancellation.
    pub refund_posting_id: Option<Uuid>,
    pub fulfilled_by: Option<Uuid>,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub cancelled_by: Option<Uuid>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RedemptionStatus {
    #[sea_orm(string_value = "RESERVED")]
    Reserved,
    #[sea_orm(string_value = "FULFILLED")]
    Fulfilled,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
