//! The three lists (DESIGN §3): organisations, resources, needs, matching,
//! projects with the street's project library, ratings and the four indices.

pub mod indices;
pub mod matching;
pub mod needs;
pub mod organisations;
pub mod projects;
pub mod resources;
pub mod text;

use sea_orm::SqlErr;

use crate::error::ServiceError;

pub(crate) use crate::db::statement;

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
