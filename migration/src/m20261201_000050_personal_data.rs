//! Personal data at rest (issue 8): phone numbers are stored sealed
//! (AES-256-GCM, see `api::crypto`) in the columns that held them, so those
//! columns grow; password login finds a phone by its keyed blind index, in a
//! new column with the UNIQUE constraint; an erased account is marked; the
//! fingerprint of the key that sealed the data is kept so that a process with
//! another key refuses to start.
//!
//! Migrations do not know the key: the rows that still hold plaintext are
//! sealed by the application at start (`api::service::privacy::prepare`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    LoginPhoneBlindIndex,
    ErasedAt,
}

#[derive(DeriveIden)]
enum PersonalDataKey {
    Table,
    Id,
    Fingerprint,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            // A sealed 11-digit phone is 55 characters. SQLite does not
            // enforce a VARCHAR length, so only PostgreSQL needs this.
            let db = manager.get_connection();
            db.execute_unprepared("ALTER TABLE users ALTER COLUMN login_phone TYPE varchar(255)")
                .await?;
            db.execute_unprepared("ALTER TABLE membership ALTER COLUMN phone TYPE varchar(255)")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::LoginPhoneBlindIndex)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_users_login_phone_blind_index")
                    .table(Users::Table)
                    .col(Users::LoginPhoneBlindIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::ErasedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PersonalDataKey::Table)
                    .col(
                        ColumnDef::new(PersonalDataKey::Id)
                            .integer()
                            .not_null()
                            .primary_key()
                            .check(Expr::col(PersonalDataKey::Id).eq(1)),
                    )
                    .col(
                        ColumnDef::new(PersonalDataKey::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PersonalDataKey::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
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
