use sea_orm::entity::prelude::*;

/// A social organisation or a local unit (company, school, hospital),
/// registered in one community or with a whole street.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organisation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// None when registered with the street (serving all its communities).
    pub community_id: Option<Uuid>,
    pub street_id: Uuid,
    pub name: String,
    pub kind: OrganisationKind,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum OrganisationKind {
    #[sea_orm(string_value = "SOCIAL_ORGANISATION")]
    SocialOrganisation,
    #[sea_orm(string_value = "COMPANY")]
    Company,
    #[sea_orm(string_value = "SCHOOL")]
    School,
    #[sea_orm(string_value = "HOSPITAL")]
    Hospital,
    #[sea_orm(string_value = "OTHER_UNIT")]
    OtherUnit,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
