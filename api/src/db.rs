//! Connecting to SQLite or PostgreSQL, migrating, and beginning write transactions.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::{Settings, ensure_dir};

/// How long an SQLite writer waits for another one before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        ensure_sqlite_parent_dir(&url)?;
    }
    connect_url_with(
        &url,
        settings.db_max_connections,
        Duration::from_secs(settings.db_acquire_timeout_secs),
    )
    .await
}

/// A pool for tools and tests, with the default acquire timeout.
pub async fn connect_url(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    connect_url_with(
        url,
        max_connections,
        Duration::from_secs(crate::config::DEFAULT_DB_ACQUIRE_TIMEOUT_SECS),
    )
    .await
}

/// A pool of at most `max_connections`; a caller waits at most
/// `acquire_timeout` for a connection (including reconnecting to a database
/// that went away) before getting `DbErr::ConnectionAcquire`.
pub async fn connect_url_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .acquire_timeout(acquire_timeout)
        .connect_timeout(acquire_timeout.min(Duration::from_secs(10)))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .create_if_missing(true)
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(url)))
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// Begins a transaction that will write. On SQLite it takes the write lock at
/// once (BEGIN IMMEDIATE), so concurrent writers queue on the busy timeout
/// instead of failing with “database is locked” when a reader upgrades.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

fn ensure_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    // Validate the URL early so a typo is reported before the pool retries.
    SqliteConnectOptions::from_str(url).with_context(|| format!("bad SQLite URL {url}"))?;
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        ensure_dir(parent)?;
    }
    Ok(())
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://linli:s3cret@db:5432/linli"),
            "postgres://linli:***@db:5432/linli"
        );
        assert_eq!(
            redact("sqlite://./data/linli.db"),
            "sqlite://./data/linli.db"
        );
    }
}
