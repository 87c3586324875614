//! Regions, households, users, memberships and region officers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Region {
    Table,
    Id,
    Name,
    Kind,
    ParentId,
    DistrictId,
    StreetId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Household {
    Table,
    Id,
    CommunityId,
    Building,
    Unit,
    Room,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    DisplayName,
    WechatOpenid,
    WechatUnionid,
    LoginPhone,
    PasswordHash,
    IsPlatformAdmin,
    FailedLoginCount,
    LockedUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Membership {
    Table,
    Id,
    CommunityId,
    UserId,
    HouseholdId,
    RealName,
    Phone,
    Roles,
    Status,
    StatusReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RegionOfficer {
    Table,
    Id,
    RegionId,
    UserId,
    Role,
    AppointedBy,
    CreatedAt,
}

fn uuid_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn created_at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Region::Table)
                    .col(uuid_pk(Region::Id))
                    .col(ColumnDef::new(Region::Name).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Region::Kind)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(Region::Kind).is_in([
                                "DISTRICT",
                                "STREET",
                                "COMMUNITY",
                            ])),
                    )
                    .col(ColumnDef::new(Region::ParentId).uuid().null())
                    .col(ColumnDef::new(Region::DistrictId).uuid().not_null())
                    .col(ColumnDef::new(Region::StreetId).uuid().null())
                    .col(created_at(Region::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Region::Table, Region::ParentId)
                            .to(Region::Table, Region::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Two regions with one name under one parent would confuse everyone.
        manager
            .create_index(
                Index::create()
                    .name("ux_region_parent_name")
                    .table(Region::Table)
                    .col(Region::ParentId)
                    .col(Region::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_region_street")
                    .table(Region::Table)
                    .col(Region::StreetId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_region_district")
                    .table(Region::Table)
                    .col(Region::DistrictId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Household::Table)
                    .col(uuid_pk(Household::Id))
                    .col(ColumnDef::new(Household::CommunityId).uuid().not_null())
                    .col(
                        ColumnDef::new(Household::Building)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Household::Unit).string_len(32).not_null())
                    .col(ColumnDef::new(Household::Room).string_len(32).not_null())
                    .col(created_at(Household::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Household::Table, Household::CommunityId)
                            .to(Region::Table, Region::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_household_address")
                    .table(Household::Table)
                    .col(Household::CommunityId)
                    .col(Household::Building)
                    .col(Household::Unit)
                    .col(Household::Room)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid_pk(Users::Id))
                    .col(ColumnDef::new(Users::DisplayName).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Users::WechatOpenid)
                            .string_len(128)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::WechatUnionid).string_len(128).null())
                    .col(
                        ColumnDef::new(Users::LoginPhone)
                            .string_len(20)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::PasswordHash).string_len(255).null())
                    .col(
                        ColumnDef::new(Users::IsPlatformAdmin)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Users::FailedLoginCount)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Users::FailedLoginCount).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Users::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(created_at(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Membership::Table)
                    .col(uuid_pk(Membership::Id))
                    .col(ColumnDef::new(Membership::CommunityId).uuid().not_null())
                    .col(ColumnDef::new(Membership::UserId).uuid().not_null())
                    .col(ColumnDef::new(Membership::HouseholdId).uuid().null())
                    .col(
                        ColumnDef::new(Membership::RealName)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Membership::Phone).string_len(20).not_null())
                    .col(
                        ColumnDef::new(Membership::Roles)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Membership::Roles).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Membership::Status)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(Membership::Status)
                                    .is_in(["PENDING", "ACTIVE", "REJECTED", "LEFT"]),
                            ),
                    )
                    .col(
                        ColumnDef::new(Membership::StatusReason)
                            .string_len(500)
                            .null(),
                    )
                    .col(created_at(Membership::CreatedAt))
                    .col(created_at(Membership::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::CommunityId)
                            .to(Region::Table, Region::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::HouseholdId)
                            .to(Household::Table, Household::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_membership_community_user")
                    .table(Membership::Table)
                    .col(Membership::CommunityId)
                    .col(Membership::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_user")
                    .table(Membership::Table)
                    .col(Membership::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_household")
                    .table(Membership::Table)
                    .col(Membership::HouseholdId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RegionOfficer::Table)
                    .col(uuid_pk(RegionOfficer::Id))
                    .col(ColumnDef::new(RegionOfficer::RegionId).uuid().not_null())
                    .col(ColumnDef::new(RegionOfficer::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(RegionOfficer::Role)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(RegionOfficer::Role).is_in([
                                "DISTRICT_ADMIN",
                                "STREET_ADMIN",
                                "OBSERVER",
                            ])),
                    )
                    .col(ColumnDef::new(RegionOfficer::AppointedBy).uuid().null())
                    .col(created_at(RegionOfficer::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RegionOfficer::Table, RegionOfficer::RegionId)
                            .to(Region::Table, Region::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RegionOfficer::Table, RegionOfficer::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_region_officer")
                    .table(RegionOfficer::Table)
                    .col(RegionOfficer::UserId)
                    .col(RegionOfficer::RegionId)
                    .col(RegionOfficer::Role)
                    .unique()
                    .to_owned(),
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
