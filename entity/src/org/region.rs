use sea_orm::entity::prelude::*;

/// District (区) → street (街道) → community (社区). A community's id is the
/// tenant key (`community_id`) of the records that belong to it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "region")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub kind: RegionKind,
    pub parent_id: Option<Uuid>,
    /// The district above (the region itself for a district). Regions never
    /// move, so the ancestors are kept on the row and region checks need no walk.
    pub district_id: Uuid,
    /// The street above (the region itself for a street); none for a district.
    pub street_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RegionKind {
    #[sea_orm(string_value = "DISTRICT")]
    District,
    #[sea_orm(string_value = "STREET")]
    Street,
    #[sea_orm(string_value = "COMMUNITY")]
    Community,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "Entity", from = "Column::ParentId", to = "Column::Id")]
    Parent,
}

impl ActiveModelBehavior for ActiveModel {}
