use sea_orm::entity::prelude::*;

/// An entry of the projects list (项目清单). `community_id` is the community
/// that created it; `street_id` the street whose library reviews it;
/// `selected_community_id` the community that picked it from the library
/// and delivers it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub street_id: Uuid,
    pub selected_community_id: Option<Uuid>,
    pub lead_organisation_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub budget_fen: i64,
    /// What was spent, recorded at completion.
    pub spent_fen: Option<i64>,
    pub status: ProjectStatus,
    pub review_score: Option<i32>,
    pub review_comment: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub removal_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub selected_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub evaluated_at: Option<DateTimeUtc>,
}

impl Model {
    /// The community that delivers the project: the one that selected it,
    /// else the one that created it.
    pub fn delivering_community(&self) -> Uuid {
        self.selected_community_id.unwrap_or(self.community_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum ProjectStatus {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "SUBMITTED")]
    Submitted,
    #[sea_orm(string_value = "IN_LIBRARY")]
    InLibrary,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "SELECTED")]
    Selected,
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "EVALUATED")]
    Evaluated,
    #[sea_orm(string_value = "REMOVED_FROM_LIBRARY")]
    RemovedFromLibrary,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
