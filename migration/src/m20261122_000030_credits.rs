//! Volunteer time credits (DESIGN §6): community settings, volunteers and
//! teams, activities with sign-up and attendance, the double-entry points
//! ledger (accounts, postings, idempotency keys), the catalogue and
//! redemptions.
//!
//! The ledger's guarantees live here, not only in Rust:
//! - `posting.amount > 0`, from ≠ to, kind in the five kinds;
//! - `posting.reverses_posting_id` is UNIQUE: a posting is reversed once;
//! - postings can be neither updated nor deleted (triggers on both back ends);
//! - `point_account.balance >= 0` unless the account is the community's
//!   issuing account;
//! - an idempotency key is unique per community;
//! - `catalog_item.stock >= 0`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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
enum CreditSetting {
    Table,
    CommunityId,
    PointsPerHourDefault,
    DailyCapMinutes,
    BalanceCap,
    ValidityMonths,
    TransferPolicy,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VolunteerProfile {
    Table,
    Id,
    CommunityId,
    UserId,
    Skills,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VolunteerTeam {
    Table,
    Id,
    CommunityId,
    Name,
    LeaderId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TeamMember {
    Table,
    Id,
    CommunityId,
    TeamId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PointAccount {
    Table,
    Id,
    CommunityId,
    Kind,
    OwnerId,
    Balance,
    MinutesServed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Id,
    CommunityId,
    Key,
    Operation,
    ActorId,
    RequestHash,
    ResultIds,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Activity {
    Table,
    Id,
    CommunityId,
    OrganiserId,
    ProjectId,
    Title,
    Description,
    Place,
    StartsAt,
    EndsAt,
    Capacity,
    PointsPerHour,
    SkillsWanted,
    Status,
    CheckCode,
    CheckCodeExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ActivitySignup {
    Table,
    Id,
    CommunityId,
    ActivityId,
    UserId,
    Status,
    QueuedAt,
    CheckedInAt,
    CheckedOutAt,
    AutoClosed,
    ConfirmedMinutes,
    CreditedMinutes,
    CorrectionReason,
    ConfirmedBy,
    ConfirmedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Posting {
    Table,
    Id,
    CommunityId,
    Kind,
    Amount,
    FromAccountId,
    ToAccountId,
    ActorId,
    Memo,
    Minutes,
    ActivityId,
    RedemptionId,
    RequestId,
    ReversesPostingId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CatalogItem {
    Table,
    Id,
    CommunityId,
    Title,
    Description,
    PricePoints,
    Stock,
    ResourceId,
    Active,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Redemption {
    Table,
    Id,
    CommunityId,
    ItemId,
    UserId,
    Quantity,
    Points,
    Status,
    PickupCode,
    PostingId,
    RefundPostingId,
    FulfilledBy,
    FulfilledAt,
    CancelledBy,
    CancelledAt,
    CreatedAt,
}

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

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn ts_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn community_fk<T: IntoIden + 'static>(table: T, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Region::Table, Region::Id)
        .to_owned()
}

fn user_fk<T: IntoIden + 'static>(table: T, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .to_owned()
}

async fn index(manager: &SchemaManager<'_>, index: IndexCreateStatement) -> Result<(), DbErr> {
    manager.create_index(index).await
}

async fn raw(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // ---------- community rules ----------
        manager
            .create_table(
                Table::create()
                    .table(CreditSetting::Table)
                    .col(uuid_pk(CreditSetting::CommunityId))
                    .col(
                        ColumnDef::new(CreditSetting::PointsPerHourDefault)
                            .integer()
                            .not_null()
                            .check(Expr::col(CreditSetting::PointsPerHourDefault).gte(0)),
                    )
                    .col(
                        ColumnDef::new(CreditSetting::DailyCapMinutes)
                            .integer()
                            .not_null()
                            .check(Expr::col(CreditSetting::DailyCapMinutes).between(1, 1440)),
                    )
                    .col(
                        ColumnDef::new(CreditSetting::BalanceCap)
                            .integer()
                            .null()
                            .check(Expr::col(CreditSetting::BalanceCap).gt(0)),
                    )
                    .col(
                        ColumnDef::new(CreditSetting::ValidityMonths)
                            .integer()
                            .not_null()
                            .check(Expr::col(CreditSetting::ValidityMonths).between(1, 240)),
                    )
                    .col(
                        ColumnDef::new(CreditSetting::TransferPolicy)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(CreditSetting::TransferPolicy)
                                    .is_in(["ANY_MEMBER", "FAMILY_ONLY"]),
                            ),
                    )
                    .col(uuid_null(CreditSetting::UpdatedBy))
                    .col(ts(CreditSetting::UpdatedAt))
                    .foreign_key(&mut community_fk(
                        CreditSetting::Table,
                        CreditSetting::CommunityId,
                    ))
                    .to_owned(),
            )
            .await?;

        // ---------- volunteers and teams ----------
        manager
            .create_table(
                Table::create()
                    .table(VolunteerProfile::Table)
                    .col(uuid_pk(VolunteerProfile::Id))
                    .col(uuid_col(VolunteerProfile::CommunityId))
                    .col(uuid_col(VolunteerProfile::UserId))
                    .col(
                        ColumnDef::new(VolunteerProfile::Skills)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(ts(VolunteerProfile::CreatedAt))
                    .col(ts(VolunteerProfile::UpdatedAt))
                    .foreign_key(&mut community_fk(
                        VolunteerProfile::Table,
                        VolunteerProfile::CommunityId,
                    ))
                    .foreign_key(&mut user_fk(
                        VolunteerProfile::Table,
                        VolunteerProfile::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ux_volunteer_profile")
                .table(VolunteerProfile::Table)
                .col(VolunteerProfile::CommunityId)
                .col(VolunteerProfile::UserId)
                .unique()
                .to_owned(),
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(VolunteerTeam::Table)
                    .col(uuid_pk(VolunteerTeam::Id))
                    .col(uuid_col(VolunteerTeam::CommunityId))
                    .col(
                        ColumnDef::new(VolunteerTeam::Name)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(uuid_col(VolunteerTeam::LeaderId))
                    .col(ts(VolunteerTeam::CreatedAt))
                    .foreign_key(&mut community_fk(
                        VolunteerTeam::Table,
                        VolunteerTeam::CommunityId,
                    ))
                    .foreign_key(&mut user_fk(VolunteerTeam::Table, VolunteerTeam::LeaderId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ux_volunteer_team_name")
                .table(VolunteerTeam::Table)
                .col(VolunteerTeam::CommunityId)
                .col(VolunteerTeam::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(TeamMember::Table)
                    .col(uuid_pk(TeamMember::Id))
                    .col(uuid_col(TeamMember::CommunityId))
                    .col(uuid_col(TeamMember::TeamId))
                    .col(uuid_col(TeamMember::UserId))
                    .col(ts(TeamMember::CreatedAt))
                    .foreign_key(&mut community_fk(
                        TeamMember::Table,
                        TeamMember::CommunityId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMember::Table, TeamMember::TeamId)
                            .to(VolunteerTeam::Table, VolunteerTeam::Id),
                    )
                    .foreign_key(&mut user_fk(TeamMember::Table, TeamMember::UserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ux_team_member")
                .table(TeamMember::Table)
                .col(TeamMember::TeamId)
                .col(TeamMember::UserId)
                .unique()
                .to_owned(),
        )
        .await?;

        // ---------- ledger: accounts ----------
        manager
            .create_table(
                Table::create()
                    .table(PointAccount::Table)
                    .col(uuid_pk(PointAccount::Id))
                    .col(uuid_col(PointAccount::CommunityId))
                    .col(
                        ColumnDef::new(PointAccount::Kind)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(PointAccount::Kind).is_in([
                                "ISSUING",
                                "DONATION_POOL",
                                "MEMBER",
                            ])),
                    )
                    .col(uuid_null(PointAccount::OwnerId))
                    .col(
                        ColumnDef::new(PointAccount::Balance)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(PointAccount::MinutesServed)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(PointAccount::MinutesServed).gte(0)),
                    )
                    .col(ts(PointAccount::CreatedAt))
                    // Only the issuing account may go below zero.
                    .check(
                        Expr::col(PointAccount::Kind)
                            .eq("ISSUING")
                            .or(Expr::col(PointAccount::Balance).gte(0)),
                    )
                    // A member account has an owner; the community's own accounts have none.
                    .check(
                        Expr::col(PointAccount::Kind)
                            .eq("MEMBER")
                            .and(Expr::col(PointAccount::OwnerId).is_not_null())
                            .or(Expr::col(PointAccount::Kind)
                                .ne("MEMBER")
                                .and(Expr::col(PointAccount::OwnerId).is_null())),
                    )
                    .foreign_key(&mut community_fk(
                        PointAccount::Table,
                        PointAccount::CommunityId,
                    ))
                    .foreign_key(&mut user_fk(PointAccount::Table, PointAccount::OwnerId))
                    .to_owned(),
            )
            .await?;
        // One account per member per community …
        index(
            manager,
            Index::create()
                .name("ux_point_account_member")
                .table(PointAccount::Table)
                .col(PointAccount::CommunityId)
                .col(PointAccount::OwnerId)
                .unique()
                .and_where(Expr::col(PointAccount::Kind).eq("MEMBER"))
                .to_owned(),
        )
        .await?;
        // … and one issuing account and one donation pool per community.
        index(
            manager,
            Index::create()
                .name("ux_point_account_community")
                .table(PointAccount::Table)
                .col(PointAccount::CommunityId)
                .col(PointAccount::Kind)
                .unique()
                .and_where(Expr::col(PointAccount::Kind).ne("MEMBER"))
                .to_owned(),
        )
        .await?;

        // ---------- ledger: idempotency keys ----------
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(uuid_pk(IdempotencyKey::Id))
                    .col(uuid_col(IdempotencyKey::CommunityId))
                    .col(
                        ColumnDef::new(IdempotencyKey::Key)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKey::Operation)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(uuid_col(IdempotencyKey::ActorId))
                    .col(
                        ColumnDef::new(IdempotencyKey::RequestHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdempotencyKey::ResultIds).text().not_null())
                    .col(ts(IdempotencyKey::CreatedAt))
                    .foreign_key(&mut community_fk(
                        IdempotencyKey::Table,
                        IdempotencyKey::CommunityId,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ux_idempotency_key")
                .table(IdempotencyKey::Table)
                .col(IdempotencyKey::CommunityId)
                .col(IdempotencyKey::Key)
                .unique()
                .to_owned(),
        )
        .await?;

        // ---------- activities ----------
        manager
            .create_table(
                Table::create()
                    .table(Activity::Table)
                    .col(uuid_pk(Activity::Id))
                    .col(uuid_col(Activity::CommunityId))
                    .col(uuid_col(Activity::OrganiserId))
                    // A project of the three lists; checked in Rust until the
                    // projects branch lands (no foreign key yet).
                    .col(uuid_null(Activity::ProjectId))
                    .col(ColumnDef::new(Activity::Title).string_len(100).not_null())
                    .col(ColumnDef::new(Activity::Description).text().null())
                    .col(ColumnDef::new(Activity::Place).string_len(200).null())
                    .col(ts(Activity::StartsAt))
                    .col(ts(Activity::EndsAt))
                    .col(
                        ColumnDef::new(Activity::Capacity)
                            .integer()
                            .not_null()
                            .check(Expr::col(Activity::Capacity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Activity::PointsPerHour)
                            .integer()
                            .not_null()
                            .check(Expr::col(Activity::PointsPerHour).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Activity::SkillsWanted)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Activity::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(Activity::Status).is_in(["OPEN", "CANCELLED"])),
                    )
                    .col(ColumnDef::new(Activity::CheckCode).string_len(16).null())
                    .col(ts_null(Activity::CheckCodeExpiresAt))
                    .col(ts(Activity::CreatedAt))
                    .col(ts(Activity::UpdatedAt))
                    .foreign_key(&mut community_fk(Activity::Table, Activity::CommunityId))
                    .foreign_key(&mut user_fk(Activity::Table, Activity::OrganiserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ix_activity_community_starts")
                .table(Activity::Table)
                .col(Activity::CommunityId)
                .col(Activity::StartsAt)
                .to_owned(),
        )
        .await?;
        index(
            manager,
            Index::create()
                .name("ix_activity_project")
                .table(Activity::Table)
                .col(Activity::ProjectId)
                .to_owned(),
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActivitySignup::Table)
                    .col(uuid_pk(ActivitySignup::Id))
                    .col(uuid_col(ActivitySignup::CommunityId))
                    .col(uuid_col(ActivitySignup::ActivityId))
                    .col(uuid_col(ActivitySignup::UserId))
                    .col(
                        ColumnDef::new(ActivitySignup::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(ActivitySignup::Status).is_in([
                                "SIGNED_UP",
                                "WAITLISTED",
                                "CANCELLED",
                            ])),
                    )
                    .col(ts(ActivitySignup::QueuedAt))
                    .col(ts_null(ActivitySignup::CheckedInAt))
                    .col(ts_null(ActivitySignup::CheckedOutAt))
                    .col(
                        ColumnDef::new(ActivitySignup::AutoClosed)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(ActivitySignup::ConfirmedMinutes)
                            .integer()
                            .null()
                            .check(Expr::col(ActivitySignup::ConfirmedMinutes).gt(0)),
                    )
                    .col(
                        ColumnDef::new(ActivitySignup::CreditedMinutes)
                            .integer()
                            .null()
                            .check(Expr::col(ActivitySignup::CreditedMinutes).gte(0)),
                    )
                    .col(
                        ColumnDef::new(ActivitySignup::CorrectionReason)
                            .string_len(500)
                            .null(),
                    )
                    .col(uuid_null(ActivitySignup::ConfirmedBy))
                    .col(ts_null(ActivitySignup::ConfirmedAt))
                    .col(ts(ActivitySignup::CreatedAt))
                    .col(ts(ActivitySignup::UpdatedAt))
                    .foreign_key(&mut community_fk(
                        ActivitySignup::Table,
                        ActivitySignup::CommunityId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ActivitySignup::Table, ActivitySignup::ActivityId)
                            .to(Activity::Table, Activity::Id),
                    )
                    .foreign_key(&mut user_fk(ActivitySignup::Table, ActivitySignup::UserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ux_activity_signup")
                .table(ActivitySignup::Table)
                .col(ActivitySignup::ActivityId)
                .col(ActivitySignup::UserId)
                .unique()
                .to_owned(),
        )
        .await?;
        index(
            manager,
            Index::create()
                .name("ix_activity_signup_user")
                .table(ActivitySignup::Table)
                .col(ActivitySignup::CommunityId)
                .col(ActivitySignup::UserId)
                .to_owned(),
        )
        .await?;

        // ---------- catalogue ----------
        manager
            .create_table(
                Table::create()
                    .table(CatalogItem::Table)
                    .col(uuid_pk(CatalogItem::Id))
                    .col(uuid_col(CatalogItem::CommunityId))
                    .col(
                        ColumnDef::new(CatalogItem::Title)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CatalogItem::Description).text().null())
                    .col(
                        ColumnDef::new(CatalogItem::PricePoints)
                            .integer()
                            .not_null()
                            .check(Expr::col(CatalogItem::PricePoints).gt(0)),
                    )
                    .col(
                        ColumnDef::new(CatalogItem::Stock)
                            .integer()
                            .not_null()
                            .check(Expr::col(CatalogItem::Stock).gte(0)),
                    )
                    // A resource of the three lists (no foreign key until that branch lands).
                    .col(uuid_null(CatalogItem::ResourceId))
                    .col(
                        ColumnDef::new(CatalogItem::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(uuid_col(CatalogItem::CreatedBy))
                    .col(ts(CatalogItem::CreatedAt))
                    .col(ts(CatalogItem::UpdatedAt))
                    .foreign_key(&mut community_fk(
                        CatalogItem::Table,
                        CatalogItem::CommunityId,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ix_catalog_item_community")
                .table(CatalogItem::Table)
                .col(CatalogItem::CommunityId)
                .col(CatalogItem::Id)
                .to_owned(),
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Redemption::Table)
                    .col(uuid_pk(Redemption::Id))
                    .col(uuid_col(Redemption::CommunityId))
                    .col(uuid_col(Redemption::ItemId))
                    .col(uuid_col(Redemption::UserId))
                    .col(
                        ColumnDef::new(Redemption::Quantity)
                            .integer()
                            .not_null()
                            .check(Expr::col(Redemption::Quantity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Redemption::Points)
                            .integer()
                            .not_null()
                            .check(Expr::col(Redemption::Points).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Redemption::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(Redemption::Status).is_in([
                                "RESERVED",
                                "FULFILLED",
                                "CANCELLED",
                            ])),
                    )
                    .col(
                        ColumnDef::new(Redemption::PickupCode)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(uuid_null(Redemption::PostingId))
                    .col(uuid_null(Redemption::RefundPostingId))
                    .col(uuid_null(Redemption::FulfilledBy))
                    .col(ts_null(Redemption::FulfilledAt))
                    .col(uuid_null(Redemption::CancelledBy))
                    .col(ts_null(Redemption::CancelledAt))
                    .col(ts(Redemption::CreatedAt))
                    .foreign_key(&mut community_fk(
                        Redemption::Table,
                        Redemption::CommunityId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Redemption::Table, Redemption::ItemId)
                            .to(CatalogItem::Table, CatalogItem::Id),
                    )
                    .foreign_key(&mut user_fk(Redemption::Table, Redemption::UserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Index::create()
                .name("ix_redemption_user")
                .table(Redemption::Table)
                .col(Redemption::CommunityId)
                .col(Redemption::UserId)
                .to_owned(),
        )
        .await?;

        // ---------- ledger: postings ----------
        manager
            .create_table(
                Table::create()
                    .table(Posting::Table)
                    .col(uuid_pk(Posting::Id))
                    .col(uuid_col(Posting::CommunityId))
                    .col(
                        ColumnDef::new(Posting::Kind)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(Posting::Kind)
                                    .is_in(["EARN", "REDEEM", "TRANSFER", "EXPIRE", "ADJUST"]),
                            ),
                    )
                    .col(
                        ColumnDef::new(Posting::Amount)
                            .integer()
                            .not_null()
                            .check(Expr::col(Posting::Amount).gt(0)),
                    )
                    .col(uuid_col(Posting::FromAccountId))
                    .col(uuid_col(Posting::ToAccountId))
                    // Who asked for the posting (none: the system, e.g. expiry).
                    .col(uuid_null(Posting::ActorId))
                    .col(ColumnDef::new(Posting::Memo).string_len(500).null())
                    // Minutes of service an EARN posting pays for.
                    .col(
                        ColumnDef::new(Posting::Minutes)
                            .integer()
                            .null()
                            .check(Expr::col(Posting::Minutes).gte(0)),
                    )
                    .col(uuid_null(Posting::ActivityId))
                    .col(uuid_null(Posting::RedemptionId))
                    .col(uuid_null(Posting::RequestId))
                    .col(
                        ColumnDef::new(Posting::ReversesPostingId)
                            .uuid()
                            .null()
                            .unique_key(),
                    )
                    .col(ts(Posting::CreatedAt))
                    .check(Expr::col(Posting::FromAccountId).ne(Expr::col(Posting::ToAccountId)))
                    .foreign_key(&mut community_fk(Posting::Table, Posting::CommunityId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::FromAccountId)
                            .to(PointAccount::Table, PointAccount::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::ToAccountId)
                            .to(PointAccount::Table, PointAccount::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::ReversesPostingId)
                            .to(Posting::Table, Posting::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::RequestId)
                            .to(IdempotencyKey::Table, IdempotencyKey::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::ActivityId)
                            .to(Activity::Table, Activity::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posting::Table, Posting::RedemptionId)
                            .to(Redemption::Table, Redemption::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_posting_from", Posting::FromAccountId),
            ("ix_posting_to", Posting::ToAccountId),
        ] {
            index(
                manager,
                Index::create()
                    .name(name)
                    .table(Posting::Table)
                    .col(col)
                    .col(Posting::Id)
                    .to_owned(),
            )
            .await?;
        }
        index(
            manager,
            Index::create()
                .name("ix_posting_community_kind_created")
                .table(Posting::Table)
                .col(Posting::CommunityId)
                .col(Posting::Kind)
                .col(Posting::CreatedAt)
                .to_owned(),
        )
        .await?;
        index(
            manager,
            Index::create()
                .name("ix_posting_activity")
                .table(Posting::Table)
                .col(Posting::ActivityId)
                .to_owned(),
        )
        .await?;

        // Postings are never updated or deleted: a correction is a new posting.
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                raw(
                    manager,
                    "CREATE TRIGGER posting_no_update BEFORE UPDATE ON posting \
                     BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END",
                )
                .await?;
                raw(
                    manager,
                    "CREATE TRIGGER posting_no_delete BEFORE DELETE ON posting \
                     BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END",
                )
                .await?;
            }
            DbBackend::Postgres => {
                raw(
                    manager,
                    "CREATE FUNCTION posting_immutable() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'postings are immutable'; END $$",
                )
                .await?;
                raw(
                    manager,
                    "CREATE TRIGGER posting_immutable BEFORE UPDATE OR DELETE ON posting \
                     FOR EACH ROW EXECUTE FUNCTION posting_immutable()",
                )
                .await?;
            }
            _ => {
                return Err(DbErr::Migration(
                    "Linli runs on SQLite or PostgreSQL".into(),
                ));
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "Linli's migrations only move forward".into(),
        ))
    }
}
