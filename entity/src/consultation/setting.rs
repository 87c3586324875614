use sea_orm::entity::prelude::*;

/// A community's consultation settings (absent: the defaults).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consultation_setting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub community_id: Uuid,
    pub seconding_kind: SecondingKind,
    pub seconding_value: i32,
    pub max_proxies_per_holder: i32,
    pub notice_days: i32,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

/// How the seconding threshold is given: a number of residents, or a percentage of the community's households.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum SecondingKind {
    #[sea_orm(string_value = "RESIDENTS")]
    Residents,
    #[sea_orm(string_value = "HOUSEHOLD_PERCENT")]
    HouseholdPercent,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
