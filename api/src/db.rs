//! Connecting to SQLite or PostgreSQL, migrating, and beginning write transactions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::OwnedMutexGuard;

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

/// A transaction that will write. On SQLite it also holds this process's
/// writer lock of the database file until it commits, rolls back or drops.
pub struct WriteTransaction {
    txn: DatabaseTransaction,
    // Declared after `txn`: released only once the transaction is over.
    _writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// One writer lock per SQLite file in this process. SQLite lets one writer
/// in at a time; without this, concurrent writers each take a pooled
/// connection and poll SQLite's busy handler, which sleeps 1, 2, 5, 10… ms
/// between tries, so under load most of the time goes to sleeping. With it
/// they queue here in arrival order and start the moment the lock is free.
fn sqlite_writer_lock(db: &DatabaseConnection) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(file).or_default().clone()
}

/// Begins a transaction that will write. On SQLite it waits for this
/// process's writer lock, then takes SQLite's write lock at once (BEGIN
/// IMMEDIATE), so a reader never has to upgrade and fail with “database is
/// locked”; other processes on the same file still wait on the busy timeout.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        let writer = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, sqlite_writer_lock(db).lock_owned())
            .await
            // Another writer held the file past the busy timeout: the same
            // answer as a pool that has no connection to give.
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?;
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTransaction {
            txn,
            _writer: Some(writer),
        })
    } else {
        Ok(WriteTransaction {
            txn: db.begin().await?,
            _writer: None,
        })
    }
}

/// A raw statement written with `?` placeholders, numbered `$n` for PostgreSQL.
/// A `?` inside a string literal (`'…'`, `''` escaping a quote) or a quoted
/// identifier (`"…"`) is text, not a placeholder, and is left alone.
pub fn statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => number_placeholders(sql),
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn number_placeholders(sql: &str) -> String {
    let mut numbered = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    // The quote that opened the literal or identifier being read, if any. A
    // doubled quote inside one closes and reopens it, which leaves it open.
    let mut quoted: Option<char> = None;
    for c in sql.chars() {
        match (quoted, c) {
            (None, '?') => {
                n += 1;
                numbered.push('$');
                numbered.push_str(&n.to_string());
                continue;
            }
            (None, '\'' | '"') => quoted = Some(c),
            (Some(open), _) if c == open => quoted = None,
            _ => {}
        }
        numbered.push(c);
    }
    numbered
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
    use super::*;

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

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let s = statement(DbBackend::Postgres, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(s.sql, "a = $1 AND b = $2");
        let s = statement(DbBackend::Sqlite, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(s.sql, "a = ? AND b = ?");
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            number_placeholders("SELECT * FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(number_placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn question_marks_in_literals_and_identifiers_are_text() {
        assert_eq!(
            number_placeholders("SELECT '?' AS q, ? AS p WHERE x = '为什么？?'"),
            "SELECT '?' AS q, $1 AS p WHERE x = '为什么？?'"
        );
        // '' escapes a quote: the literal runs on to the last quote.
        assert_eq!(
            number_placeholders("SELECT 'it''s ?' || ?"),
            "SELECT 'it''s ?' || $1"
        );
        assert_eq!(
            number_placeholders(r#"SELECT "odd?name" FROM t WHERE a = ?"#),
            r#"SELECT "odd?name" FROM t WHERE a = $1"#
        );
        assert_eq!(
            number_placeholders("SELECT '' , ? , 'a' , ?"),
            "SELECT '' , $1 , 'a' , $2"
        );
    }
}
