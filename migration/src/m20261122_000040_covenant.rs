//! The community covenant: covenants, versions, articles, comments, pledges,
//! filings, ratings and awards.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Region {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Covenant {
    Table,
    Id,
    CommunityId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CovenantVersion {
    Table,
    Id,
    CovenantId,
    CommunityId,
    Number,
    Status,
    CommentUntil,
    BallotId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    InForceAt,
}

#[derive(DeriveIden)]
enum CovenantArticle {
    Table,
    Id,
    VersionId,
    CommunityId,
    Position,
    Chapter,
    Title,
    Body,
}

#[derive(DeriveIden)]
enum CovenantComment {
    Table,
    Id,
    VersionId,
    CommunityId,
    ArticleId,
    ParentId,
    AuthorId,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CovenantPledge {
    Table,
    Id,
    VersionId,
    CommunityId,
    UserId,
    HouseholdId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CovenantFiling {
    Table,
    Id,
    VersionId,
    CommunityId,
    FiledBy,
    FiledOn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CovenantRating {
    Table,
    Id,
    VersionId,
    CommunityId,
    RaterId,
    Score,
    Comment,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CovenantAward {
    Table,
    Id,
    CovenantId,
    CommunityId,
    RegionId,
    Year,
    AwardedBy,
    CreatedAt,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn uuid<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
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
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Covenant::Table)
                    .col(id(Covenant::Id))
                    .col(uuid(Covenant::CommunityId).unique_key())
                    .col(time(Covenant::CreatedAt))
                    .col(time(Covenant::UpdatedAt))
                    .foreign_key(&mut fk(
                        Covenant::Table,
                        Covenant::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantVersion::Table)
                    .col(id(CovenantVersion::Id))
                    .col(uuid(CovenantVersion::CovenantId))
                    .col(uuid(CovenantVersion::CommunityId))
                    .col(
                        ColumnDef::new(CovenantVersion::Number)
                            .integer()
                            .not_null()
                            .check(Expr::col(CovenantVersion::Number).gte(1)),
                    )
                    .col(
                        ColumnDef::new(CovenantVersion::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(CovenantVersion::Status).is_in([
                                "DRAFT",
                                "IN_COMMENT",
                                "VOTING",
                                "IN_FORCE",
                                "SUPERSEDED",
                                "REJECTED",
                            ])),
                    )
                    .col(
                        ColumnDef::new(CovenantVersion::CommentUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(CovenantVersion::BallotId).uuid().null())
                    .col(uuid(CovenantVersion::CreatedBy))
                    .col(time(CovenantVersion::CreatedAt))
                    .col(time(CovenantVersion::UpdatedAt))
                    .col(
                        ColumnDef::new(CovenantVersion::InForceAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut fk(
                        CovenantVersion::Table,
                        CovenantVersion::CovenantId,
                        Covenant::Table,
                        Covenant::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantVersion::Table,
                        CovenantVersion::CommunityId,
                        Region::Table,
                        Region::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantVersion::Table,
                        CovenantVersion::CreatedBy,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_covenant_version_number",
            CovenantVersion::Table,
            vec![
                CovenantVersion::CovenantId.into_iden(),
                CovenantVersion::Number.into_iden(),
            ],
            true,
        )
        .await?;
        // Exactly one version in force per community, enforced by the database.
        manager
            .create_index(
                Index::create()
                    .name("ux_covenant_version_one_in_force")
                    .table(CovenantVersion::Table)
                    .col(CovenantVersion::CommunityId)
                    .unique()
                    .and_where(Expr::col(CovenantVersion::Status).eq("IN_FORCE"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantArticle::Table)
                    .col(id(CovenantArticle::Id))
                    .col(uuid(CovenantArticle::VersionId))
                    .col(uuid(CovenantArticle::CommunityId))
                    .col(
                        ColumnDef::new(CovenantArticle::Position)
                            .integer()
                            .not_null()
                            .check(Expr::col(CovenantArticle::Position).gte(1)),
                    )
                    .col(
                        ColumnDef::new(CovenantArticle::Chapter)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CovenantArticle::Title)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CovenantArticle::Body).text().not_null())
                    .foreign_key(&mut fk(
                        CovenantArticle::Table,
                        CovenantArticle::VersionId,
                        CovenantVersion::Table,
                        CovenantVersion::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_covenant_article_position",
            CovenantArticle::Table,
            vec![
                CovenantArticle::VersionId.into_iden(),
                CovenantArticle::Position.into_iden(),
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantComment::Table)
                    .col(id(CovenantComment::Id))
                    .col(uuid(CovenantComment::VersionId))
                    .col(uuid(CovenantComment::CommunityId))
                    .col(ColumnDef::new(CovenantComment::ArticleId).uuid().null())
                    .col(ColumnDef::new(CovenantComment::ParentId).uuid().null())
                    .col(uuid(CovenantComment::AuthorId))
                    .col(ColumnDef::new(CovenantComment::Body).text().not_null())
                    .col(time(CovenantComment::CreatedAt))
                    .foreign_key(&mut fk(
                        CovenantComment::Table,
                        CovenantComment::VersionId,
                        CovenantVersion::Table,
                        CovenantVersion::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantComment::Table,
                        CovenantComment::ArticleId,
                        CovenantArticle::Table,
                        CovenantArticle::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantComment::Table,
                        CovenantComment::ParentId,
                        CovenantComment::Table,
                        CovenantComment::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantComment::Table,
                        CovenantComment::AuthorId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_covenant_comment_version",
            CovenantComment::Table,
            vec![
                CovenantComment::VersionId.into_iden(),
                CovenantComment::Id.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantPledge::Table)
                    .col(id(CovenantPledge::Id))
                    .col(uuid(CovenantPledge::VersionId))
                    .col(uuid(CovenantPledge::CommunityId))
                    .col(uuid(CovenantPledge::UserId))
                    .col(ColumnDef::new(CovenantPledge::HouseholdId).uuid().null())
                    .col(time(CovenantPledge::CreatedAt))
                    .foreign_key(&mut fk(
                        CovenantPledge::Table,
                        CovenantPledge::VersionId,
                        CovenantVersion::Table,
                        CovenantVersion::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantPledge::Table,
                        CovenantPledge::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // Once per version per resident.
        index(
            manager,
            "ux_covenant_pledge_once",
            CovenantPledge::Table,
            vec![
                CovenantPledge::VersionId.into_iden(),
                CovenantPledge::UserId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "ix_covenant_pledge_household",
            CovenantPledge::Table,
            vec![
                CovenantPledge::VersionId.into_iden(),
                CovenantPledge::HouseholdId.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantFiling::Table)
                    .col(id(CovenantFiling::Id))
                    .col(uuid(CovenantFiling::VersionId).unique_key())
                    .col(uuid(CovenantFiling::CommunityId))
                    .col(uuid(CovenantFiling::FiledBy))
                    .col(ColumnDef::new(CovenantFiling::FiledOn).date().not_null())
                    .col(time(CovenantFiling::CreatedAt))
                    .foreign_key(&mut fk(
                        CovenantFiling::Table,
                        CovenantFiling::VersionId,
                        CovenantVersion::Table,
                        CovenantVersion::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantRating::Table)
                    .col(id(CovenantRating::Id))
                    .col(uuid(CovenantRating::VersionId))
                    .col(uuid(CovenantRating::CommunityId))
                    .col(uuid(CovenantRating::RaterId))
                    .col(
                        ColumnDef::new(CovenantRating::Score)
                            .integer()
                            .not_null()
                            .check(Expr::col(CovenantRating::Score).between(0, 100)),
                    )
                    .col(
                        ColumnDef::new(CovenantRating::Comment)
                            .string_len(1000)
                            .null(),
                    )
                    .col(time(CovenantRating::CreatedAt))
                    .col(time(CovenantRating::UpdatedAt))
                    .foreign_key(&mut fk(
                        CovenantRating::Table,
                        CovenantRating::VersionId,
                        CovenantVersion::Table,
                        CovenantVersion::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_covenant_rating_once",
            CovenantRating::Table,
            vec![
                CovenantRating::VersionId.into_iden(),
                CovenantRating::RaterId.into_iden(),
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CovenantAward::Table)
                    .col(id(CovenantAward::Id))
                    .col(uuid(CovenantAward::CovenantId))
                    .col(uuid(CovenantAward::CommunityId))
                    .col(uuid(CovenantAward::RegionId))
                    .col(
                        ColumnDef::new(CovenantAward::Year)
                            .integer()
                            .not_null()
                            .check(Expr::col(CovenantAward::Year).between(2000, 2200)),
                    )
                    .col(uuid(CovenantAward::AwardedBy))
                    .col(time(CovenantAward::CreatedAt))
                    .foreign_key(&mut fk(
                        CovenantAward::Table,
                        CovenantAward::CovenantId,
                        Covenant::Table,
                        Covenant::Id,
                    ))
                    .foreign_key(&mut fk(
                        CovenantAward::Table,
                        CovenantAward::RegionId,
                        Region::Table,
                        Region::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_covenant_award_year",
            CovenantAward::Table,
            vec![
                CovenantAward::CovenantId.into_iden(),
                CovenantAward::RegionId.into_iden(),
                CovenantAward::Year.into_iden(),
            ],
            true,
        )
        .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "Linli's migrations only move forward".into(),
        ))
    }
}
