use sea_orm::entity::prelude::*;

/// A council member's check-in at a meeting.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meeting_attendance")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub meeting_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub community_id: Uuid,
    pub method: AttendanceMethod,
    pub recorded_by: Option<Uuid>,
    pub checked_in_at: DateTimeUtc,
}

/// How a member checked in: with the code staff show, or by staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum AttendanceMethod {
    #[sea_orm(string_value = "CODE")]
    Code,
    #[sea_orm(string_value = "STAFF")]
    Staff,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
