use sea_orm::entity::prelude::*;

/// A region role: a street or district officer, or a livelihood observer
/// (民生观察员), appointed over one region and everything below it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "region_officer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub region_id: Uuid,
    pub user_id: Uuid,
    pub role: OfficerRole,
    pub appointed_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum OfficerRole {
    #[sea_orm(string_value = "DISTRICT_ADMIN")]
    DistrictAdmin,
    #[sea_orm(string_value = "STREET_ADMIN")]
    StreetAdmin,
    #[sea_orm(string_value = "OBSERVER")]
    Observer,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::region::Entity",
        from = "Column::RegionId",
        to = "super::region::Column::Id"
    )]
    Region,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl ActiveModelBehavior for ActiveModel {}
