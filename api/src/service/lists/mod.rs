//! The three lists (DESIGN §3): organisations, resources, needs, matching,
//! projects with the street's project library, ratings and the four indices.

pub mod indices;
pub mod matching;
pub mod needs;
pub mod organisations;
pub mod projects;
pub mod resources;
pub mod text;

use crate::error::ServiceError;

pub(crate) use crate::db::statement;

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
