//! Forward-only migrations, the same on SQLite and PostgreSQL. A landed
//! migration is never edited: a change is a new file.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_org;
mod m20261122_000002_auth;
mod m20261122_000003_audit;
mod m20261122_000010_lists;
mod m20261122_000020_consultation;
mod m20261122_000030_credits;
mod m20261122_000040_covenant;
mod m20261201_000050_personal_data;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_org::Migration),
            Box::new(m20261122_000002_auth::Migration),
            Box::new(m20261122_000003_audit::Migration),
            Box::new(m20261122_000020_consultation::Migration),
            Box::new(m20261122_000030_credits::Migration),
            Box::new(m20261122_000010_lists::Migration),
            Box::new(m20261122_000040_covenant::Migration),
            Box::new(m20261201_000050_personal_data::Migration),
        ]
    }
}
