use sea_orm::entity::prelude::*;

/// A volunteer activity: a time window, a place, a capacity and the points
/// an hour of service earns.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub organiser_id: Uuid,
    /// A project of the three lists (no foreign key until that domain lands).
    pub project_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub place: Option<String>,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub capacity: i32,
    pub points_per_hour: i32,
    /// Skills wanted, one per line.
    pub skills_wanted: String,
    pub status: ActivityStatus,
    /// The check-in/out code the organiser shows, while it is valid.
    pub check_code: Option<String>,
    pub check_code_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ActivityStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
