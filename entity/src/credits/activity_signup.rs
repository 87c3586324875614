use sea_orm::entity::prelude::*;

/// A volunteer's sign-up for an activity, their attendance and the minutes
/// staff confirmed. One row per (activity, volunteer).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activity_signup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub activity_id: Uuid,
    pub user_id: Uuid,
    pub status: SignupStatus,
    /// When the volunteer joined the queue: the waiting list moves up in this order.
    pub queued_at: DateTimeUtc,
    pub checked_in_at: Option<DateTimeUtc>,
    pub checked_out_at: Option<DateTimeUtc>,
    /// The check-out was made by the system at the activity's end because the
    /// volunteer never checked out: staff should look at it.
    pub auto_closed: bool,
    /// Minutes staff confirmed (set once).
    pub confirmed_minutes: Option<i32>,
    /// Of those, the minutes that earned points (within the daily cap).
    pub credited_minutes: Option<i32>,
    /// Why staff confirmed other minutes than the attendance shows.
    pub correction_reason: Option<String>,
    pub confirmed_by: Option<Uuid>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SignupStatus {
    #[sea_orm(string_value = "SIGNED_UP")]
    SignedUp,
    #[sea_orm(string_value = "WAITLISTED")]
    Waitlisted,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
