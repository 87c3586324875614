//! The three lists (DESIGN §3): organisations, resources, needs, matching,
//! projects with the street's project library, ratings and the four indices.

pub mod indices;
pub mod matching;
pub mod needs;
pub mod organisations;
pub mod projects;
pub mod resources;
pub mod text;

use sea_orm::{DbBackend, SqlErr, Statement, Value};

use crate::error::ServiceError;

/// A raw statement written with `?` placeholders, numbered `$n` for PostgreSQL.
pub(crate) fn statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

pub(crate) fn unique_as_conflict(message: &'static str) -> impl Fn(sea_orm::DbErr) -> ServiceError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ServiceError::conflict(message),
        _ => ServiceError::from(err),
    }
}

/// An optional free text: trimmed, None when empty, at most `max_chars`.
pub(crate) fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, ServiceError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => crate::service::validate::text(field, text, max_chars).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let s = statement(DbBackend::Postgres, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(s.sql, "a = $1 AND b = $2");
        let s = statement(DbBackend::Sqlite, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(s.sql, "a = ? AND b = ?");
    }
}
