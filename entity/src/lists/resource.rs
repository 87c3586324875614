use sea_orm::entity::prelude::*;

/// An entry of the resources list (资源清单). `reserved` units are pledged to
/// projects that have not finished; `used` units were consumed by finished
/// ones; the database refuses `reserved + used > quantity`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resource")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    /// The community's street, for street-wide matching.
    pub street_id: Uuid,
    pub organisation_id: Option<Uuid>,
    /// The member who offers it (none when an organisation or the community does).
    pub provider_id: Option<Uuid>,
    pub entered_by: Uuid,
    /// The provider held the PARTY_MEMBER role when offering it.
    pub from_party_member: bool,
    pub category: ResourceCategory,
    pub action: FourAction,
    pub title: String,
    pub description: Option<String>,
    /// Skill tags, comma-separated.
    pub skills: String,
    pub quantity: i32,
    pub reserved: i32,
    pub used: i32,
    pub unit: String,
    pub status: ResourceStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn remaining(&self) -> i32 {
        self.quantity - self.reserved - self.used
    }

    pub fn skill_list(&self) -> Vec<String> {
        self.skills
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum ResourceCategory {
    #[sea_orm(string_value = "VENUE")]
    Venue,
    #[sea_orm(string_value = "SKILL")]
    Skill,
    #[sea_orm(string_value = "FUNDS")]
    Funds,
    #[sea_orm(string_value = "GOODS")]
    Goods,
    #[sea_orm(string_value = "SERVICE")]
    Service,
    #[sea_orm(string_value = "VOLUNTEER_TIME")]
    VolunteerTime,
}

/// The four actions (四大行动) that mobilise resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum FourAction {
    #[sea_orm(string_value = "PARTY_MEMBER_SERVICE")]
    PartyMemberService,
    #[sea_orm(string_value = "NEIGHBOUR_MUTUAL_AID")]
    NeighbourMutualAid,
    #[sea_orm(string_value = "SOCIAL_ORG_WELFARE")]
    SocialOrgWelfare,
    #[sea_orm(string_value = "UNIT_SHARING")]
    UnitSharing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum ResourceStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    #[sea_orm(string_value = "RESERVED")]
    Reserved,
    #[sea_orm(string_value = "EXHAUSTED")]
    Exhausted,
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
