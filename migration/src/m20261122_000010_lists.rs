//! The three lists (DESIGN §3): organisations and their representatives,
//! resources with availability windows, needs and confirmed matches,
//! projects with their needs, resource pledges and ratings.
//!
//! Quantities are protected here, not only in Rust: a resource's reserved
//! plus used units never exceed its quantity, a pledge is positive, a rating
//! is 1–5 and one per person and project.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Region {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organisation {
    Table,
    Id,
    CommunityId,
    StreetId,
    Name,
    Kind,
    Description,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrganisationRepresentative {
    Table,
    Id,
    OrganisationId,
    StreetId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Resource {
    Table,
    Id,
    CommunityId,
    StreetId,
    OrganisationId,
    ProviderId,
    EnteredBy,
    FromPartyMember,
    Category,
    Action,
    Title,
    Description,
    Skills,
    Quantity,
    Reserved,
    Used,
    Unit,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ResourceWindow {
    Table,
    Id,
    CommunityId,
    ResourceId,
    StartsAt,
    EndsAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Need {
    Table,
    Id,
    CommunityId,
    RequesterId,
    SubmittedBy,
    BeneficiaryGroup,
    Category,
    Urgency,
    UrgencyRank,
    Title,
    Description,
    Status,
    StatusReason,
    ProjectId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum NeedMatch {
    Table,
    Id,
    CommunityId,
    NeedId,
    ResourceId,
    ConfirmedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Project {
    Table,
    Id,
    CommunityId,
    StreetId,
    SelectedCommunityId,
    LeadOrganisationId,
    Title,
    Description,
    BudgetFen,
    SpentFen,
    Status,
    ReviewScore,
    ReviewComment,
    ReviewedBy,
    ReviewedAt,
    RemovalReason,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    SelectedAt,
    StartedAt,
    CompletedAt,
    EvaluatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProjectNeed {
    Table,
    Id,
    CommunityId,
    ProjectId,
    NeedId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pledge {
    Table,
    Id,
    CommunityId,
    ProjectId,
    ResourceId,
    Quantity,
    UsedQuantity,
    Status,
    CreatedAt,
    SettledAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProjectRating {
    Table,
    Id,
    CommunityId,
    ProjectId,
    UserId,
    Score,
    Comment,
    AsObserver,
    CreatedAt,
    UpdatedAt,
}

const CATEGORIES: [&str; 6] = [
    "VENUE",
    "SKILL",
    "FUNDS",
    "GOODS",
    "SERVICE",
    "VOLUNTEER_TIME",
];
const ACTIONS: [&str; 4] = [
    "PARTY_MEMBER_SERVICE",
    "NEIGHBOUR_MUTUAL_AID",
    "SOCIAL_ORG_WELFARE",
    "UNIT_SHARING",
];

fn uuid_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn uuid_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn uuid_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().null().to_owned()
}

fn at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn at_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// A string enum column with a CHECK naming its values.
fn one_of<T: IntoIden + Clone + 'static>(col: T, values: &[&'static str]) -> ColumnDef {
    ColumnDef::new(col.clone())
        .string_len(32)
        .not_null()
        .check(Expr::col(col).is_in(values.iter().copied()))
        .to_owned()
}

fn fk<T: IntoIden, U: IntoIden, V: IntoIden, W: IntoIden>(
    from_table: T,
    from_col: U,
    to_table: V,
    to_col: W,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut statement = Index::create().name(name).table(table).to_owned();
    for col in cols {
        statement.col(col);
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement).await
}

fn cols<const N: usize>(cols: [DynIden; N]) -> Vec<DynIden> {
    cols.into_iter().collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // ---------- organisations ----------
        manager
            .create_table(
                Table::create()
                    .table(Organisation::Table)
                    .col(uuid_pk(Organisation::Id))
                    // None: registered with the street, serving all its communities.
                    .col(uuid_null(Organisation::CommunityId))
                    .col(uuid_col(Organisation::StreetId))
                    .col(ColumnDef::new(Organisation::Name).string_len(64).not_null())
                    .col(one_of(
                        Organisation::Kind,
                        &[
                            "SOCIAL_ORGANISATION",
                            "COMPANY",
                            "SCHOOL",
                            "HOSPITAL",
                            "OTHER_UNIT",
                        ],
                    ))
                    .col(
                        ColumnDef::new(Organisation::Description)
                            .string_len(1000)
                            .null(),
                    )
                    .col(uuid_col(Organisation::CreatedBy))
                    .col(at(Organisation::CreatedAt))
                    .foreign_key(&mut fk(
                        Organisation::Table,
                        Organisation::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        Organisation::Table,
                        Organisation::StreetId,
                        Region::Table,
                        Region::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_organisation_street_name",
            Organisation::Table,
            cols([
                Organisation::StreetId.into_iden(),
                Organisation::Name.into_iden(),
            ]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_organisation_community",
            Organisation::Table,
            cols([Organisation::CommunityId.into_iden()]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrganisationRepresentative::Table)
                    .col(uuid_pk(OrganisationRepresentative::Id))
                    .col(uuid_col(OrganisationRepresentative::OrganisationId))
                    .col(uuid_col(OrganisationRepresentative::StreetId))
                    .col(uuid_col(OrganisationRepresentative::UserId))
                    .col(at(OrganisationRepresentative::CreatedAt))
                    .foreign_key(&mut fk(
                        OrganisationRepresentative::Table,
                        OrganisationRepresentative::OrganisationId,
                        Organisation::Table,
                        Organisation::Id,
                    ))
                    .foreign_key(&mut fk(
                        OrganisationRepresentative::Table,
                        OrganisationRepresentative::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_organisation_representative",
            OrganisationRepresentative::Table,
            cols([
                OrganisationRepresentative::OrganisationId.into_iden(),
                OrganisationRepresentative::UserId.into_iden(),
            ]),
            true,
        )
        .await?;

        // ---------- resources ----------
        manager
            .create_table(
                Table::create()
                    .table(Resource::Table)
                    .col(uuid_pk(Resource::Id))
                    .col(uuid_col(Resource::CommunityId))
                    .col(uuid_col(Resource::StreetId))
                    .col(uuid_null(Resource::OrganisationId))
                    .col(uuid_null(Resource::ProviderId))
                    .col(uuid_col(Resource::EnteredBy))
                    .col(
                        ColumnDef::new(Resource::FromPartyMember)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(one_of(Resource::Category, &CATEGORIES))
                    .col(one_of(Resource::Action, &ACTIONS))
                    .col(ColumnDef::new(Resource::Title).string_len(100).not_null())
                    .col(
                        ColumnDef::new(Resource::Description)
                            .string_len(2000)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Resource::Skills)
                            .string_len(500)
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(Resource::Quantity)
                            .integer()
                            .not_null()
                            .check(Expr::col(Resource::Quantity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Resource::Reserved)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Resource::Reserved).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Resource::Used)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Resource::Used).gte(0)),
                    )
                    .col(ColumnDef::new(Resource::Unit).string_len(16).not_null())
                    .col(one_of(
                        Resource::Status,
                        &["AVAILABLE", "RESERVED", "EXHAUSTED", "WITHDRAWN"],
                    ))
                    .col(at(Resource::CreatedAt))
                    .col(at(Resource::UpdatedAt))
                    // Never over-reserved, whatever the application does.
                    .check(
                        Expr::col(Resource::Reserved)
                            .add(Expr::col(Resource::Used))
                            .lte(Expr::col(Resource::Quantity)),
                    )
                    .foreign_key(&mut fk(
                        Resource::Table,
                        Resource::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        Resource::Table,
                        Resource::OrganisationId,
                        Organisation::Table,
                        Organisation::Id,
                    ))
                    .foreign_key(&mut fk(
                        Resource::Table,
                        Resource::ProviderId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_resource_community",
            Resource::Table,
            cols([Resource::CommunityId.into_iden(), Resource::Id.into_iden()]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_resource_street_status",
            Resource::Table,
            cols([Resource::StreetId.into_iden(), Resource::Status.into_iden()]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ResourceWindow::Table)
                    .col(uuid_pk(ResourceWindow::Id))
                    .col(uuid_col(ResourceWindow::CommunityId))
                    .col(uuid_col(ResourceWindow::ResourceId))
                    .col(at(ResourceWindow::StartsAt))
                    .col(at(ResourceWindow::EndsAt))
                    .check(
                        Expr::col(ResourceWindow::EndsAt).gt(Expr::col(ResourceWindow::StartsAt)),
                    )
                    .foreign_key(&mut fk(
                        ResourceWindow::Table,
                        ResourceWindow::ResourceId,
                        Resource::Table,
                        Resource::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_resource_window_resource",
            ResourceWindow::Table,
            cols([ResourceWindow::ResourceId.into_iden()]),
            false,
        )
        .await?;

        // ---------- projects (needs point at them) ----------
        manager
            .create_table(
                Table::create()
                    .table(Project::Table)
                    .col(uuid_pk(Project::Id))
                    .col(uuid_col(Project::CommunityId))
                    .col(uuid_col(Project::StreetId))
                    .col(uuid_null(Project::SelectedCommunityId))
                    .col(uuid_null(Project::LeadOrganisationId))
                    .col(ColumnDef::new(Project::Title).string_len(100).not_null())
                    .col(ColumnDef::new(Project::Description).string_len(4000).null())
                    .col(
                        ColumnDef::new(Project::BudgetFen)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Project::BudgetFen).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Project::SpentFen)
                            .big_integer()
                            .null()
                            .check(Expr::col(Project::SpentFen).gte(0)),
                    )
                    .col(one_of(
                        Project::Status,
                        &[
                            "DRAFT",
                            "SUBMITTED",
                            "IN_LIBRARY",
                            "REJECTED",
                            "SELECTED",
                            "IN_PROGRESS",
                            "COMPLETED",
                            "EVALUATED",
                            "REMOVED_FROM_LIBRARY",
                        ],
                    ))
                    .col(
                        ColumnDef::new(Project::ReviewScore)
                            .integer()
                            .null()
                            .check(Expr::col(Project::ReviewScore).between(0, 100)),
                    )
                    .col(
                        ColumnDef::new(Project::ReviewComment)
                            .string_len(1000)
                            .null(),
                    )
                    .col(uuid_null(Project::ReviewedBy))
                    .col(at_null(Project::ReviewedAt))
                    .col(
                        ColumnDef::new(Project::RemovalReason)
                            .string_len(500)
                            .null(),
                    )
                    .col(uuid_col(Project::CreatedBy))
                    .col(at(Project::CreatedAt))
                    .col(at(Project::UpdatedAt))
                    .col(at_null(Project::SelectedAt))
                    .col(at_null(Project::StartedAt))
                    .col(at_null(Project::CompletedAt))
                    .col(at_null(Project::EvaluatedAt))
                    .foreign_key(&mut fk(
                        Project::Table,
                        Project::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        Project::Table,
                        Project::SelectedCommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        Project::Table,
                        Project::LeadOrganisationId,
                        Organisation::Table,
                        Organisation::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_project_community",
            Project::Table,
            cols([Project::CommunityId.into_iden(), Project::Id.into_iden()]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_project_selected",
            Project::Table,
            cols([
                Project::SelectedCommunityId.into_iden(),
                Project::Id.into_iden(),
            ]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_project_library",
            Project::Table,
            cols([
                Project::StreetId.into_iden(),
                Project::Status.into_iden(),
                Project::Id.into_iden(),
            ]),
            false,
        )
        .await?;

        // ---------- needs ----------
        manager
            .create_table(
                Table::create()
                    .table(Need::Table)
                    .col(uuid_pk(Need::Id))
                    .col(uuid_col(Need::CommunityId))
                    .col(uuid_col(Need::RequesterId))
                    .col(uuid_col(Need::SubmittedBy))
                    .col(one_of(
                        Need::BeneficiaryGroup,
                        &[
                            "ELDERLY_ALONE",
                            "DISABLED",
                            "CHILD_IN_DIFFICULTY",
                            "LOW_INCOME",
                            "GENERAL",
                        ],
                    ))
                    .col(ColumnDef::new(Need::Category).string_len(32).not_null())
                    .col(one_of(Need::Urgency, &["LOW", "NORMAL", "HIGH", "URGENT"]))
                    .col(
                        ColumnDef::new(Need::UrgencyRank)
                            .small_integer()
                            .not_null()
                            .check(Expr::col(Need::UrgencyRank).between(1, 4)),
                    )
                    .col(ColumnDef::new(Need::Title).string_len(100).not_null())
                    .col(
                        ColumnDef::new(Need::Description)
                            .string_len(2000)
                            .not_null(),
                    )
                    .col(one_of(
                        Need::Status,
                        &[
                            "SUBMITTED",
                            "ACCEPTED",
                            "REJECTED",
                            "MATCHED",
                            "IN_PROGRESS",
                            "FULFILLED",
                            "CLOSED",
                        ],
                    ))
                    .col(ColumnDef::new(Need::StatusReason).string_len(500).null())
                    .col(uuid_null(Need::ProjectId))
                    .col(at(Need::CreatedAt))
                    .col(at(Need::UpdatedAt))
                    .foreign_key(&mut fk(
                        Need::Table,
                        Need::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        Need::Table,
                        Need::RequesterId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        Need::Table,
                        Need::ProjectId,
                        Project::Table,
                        Project::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_need_community",
            Need::Table,
            cols([Need::CommunityId.into_iden(), Need::Id.into_iden()]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_need_queue",
            Need::Table,
            cols([
                Need::CommunityId.into_iden(),
                Need::Status.into_iden(),
                Need::UrgencyRank.into_iden(),
                Need::Id.into_iden(),
            ]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NeedMatch::Table)
                    .col(uuid_pk(NeedMatch::Id))
                    .col(uuid_col(NeedMatch::CommunityId))
                    .col(uuid_col(NeedMatch::NeedId))
                    .col(uuid_col(NeedMatch::ResourceId))
                    .col(uuid_col(NeedMatch::ConfirmedBy))
                    .col(at(NeedMatch::CreatedAt))
                    .foreign_key(&mut fk(
                        NeedMatch::Table,
                        NeedMatch::NeedId,
                        Need::Table,
                        Need::Id,
                    ))
                    .foreign_key(&mut fk(
                        NeedMatch::Table,
                        NeedMatch::ResourceId,
                        Resource::Table,
                        Resource::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_need_match",
            NeedMatch::Table,
            cols([
                NeedMatch::NeedId.into_iden(),
                NeedMatch::ResourceId.into_iden(),
            ]),
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProjectNeed::Table)
                    .col(uuid_pk(ProjectNeed::Id))
                    .col(uuid_col(ProjectNeed::CommunityId))
                    .col(uuid_col(ProjectNeed::ProjectId))
                    .col(uuid_col(ProjectNeed::NeedId))
                    .foreign_key(&mut fk(
                        ProjectNeed::Table,
                        ProjectNeed::ProjectId,
                        Project::Table,
                        Project::Id,
                    ))
                    .foreign_key(&mut fk(
                        ProjectNeed::Table,
                        ProjectNeed::NeedId,
                        Need::Table,
                        Need::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_project_need",
            ProjectNeed::Table,
            cols([
                ProjectNeed::ProjectId.into_iden(),
                ProjectNeed::NeedId.into_iden(),
            ]),
            true,
        )
        .await?;

        // ---------- pledges ----------
        manager
            .create_table(
                Table::create()
                    .table(Pledge::Table)
                    .col(uuid_pk(Pledge::Id))
                    .col(uuid_col(Pledge::CommunityId))
                    .col(uuid_col(Pledge::ProjectId))
                    .col(uuid_col(Pledge::ResourceId))
                    .col(
                        ColumnDef::new(Pledge::Quantity)
                            .integer()
                            .not_null()
                            .check(Expr::col(Pledge::Quantity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Pledge::UsedQuantity)
                            .integer()
                            .null()
                            .check(Expr::col(Pledge::UsedQuantity).gte(0)),
                    )
                    .col(one_of(
                        Pledge::Status,
                        &["RESERVED", "CONSUMED", "RELEASED"],
                    ))
                    .col(at(Pledge::CreatedAt))
                    .col(at_null(Pledge::SettledAt))
                    .check(
                        Expr::col(Pledge::UsedQuantity)
                            .is_null()
                            .or(Expr::col(Pledge::UsedQuantity).lte(Expr::col(Pledge::Quantity))),
                    )
                    .foreign_key(&mut fk(
                        Pledge::Table,
                        Pledge::ProjectId,
                        Project::Table,
                        Project::Id,
                    ))
                    .foreign_key(&mut fk(
                        Pledge::Table,
                        Pledge::ResourceId,
                        Resource::Table,
                        Resource::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_pledge_project_resource",
            Pledge::Table,
            cols([
                Pledge::ProjectId.into_iden(),
                Pledge::ResourceId.into_iden(),
            ]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_pledge_resource",
            Pledge::Table,
            cols([Pledge::ResourceId.into_iden()]),
            false,
        )
        .await?;

        // ---------- ratings ----------
        manager
            .create_table(
                Table::create()
                    .table(ProjectRating::Table)
                    .col(uuid_pk(ProjectRating::Id))
                    .col(uuid_col(ProjectRating::CommunityId))
                    .col(uuid_col(ProjectRating::ProjectId))
                    .col(uuid_col(ProjectRating::UserId))
                    .col(
                        ColumnDef::new(ProjectRating::Score)
                            .integer()
                            .not_null()
                            .check(Expr::col(ProjectRating::Score).between(1, 5)),
                    )
                    .col(
                        ColumnDef::new(ProjectRating::Comment)
                            .string_len(1000)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ProjectRating::AsObserver)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(at(ProjectRating::CreatedAt))
                    .col(at(ProjectRating::UpdatedAt))
                    .foreign_key(&mut fk(
                        ProjectRating::Table,
                        ProjectRating::ProjectId,
                        Project::Table,
                        Project::Id,
                    ))
                    .foreign_key(&mut fk(
                        ProjectRating::Table,
                        ProjectRating::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_project_rating",
            ProjectRating::Table,
            cols([
                ProjectRating::ProjectId.into_iden(),
                ProjectRating::UserId.into_iden(),
            ]),
            true,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "Linli's migrations only move forward".into(),
        ))
    }
}
