//! Relay connections with opaque keyset cursors and a hard page-size limit.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, OutputType, SimpleObject};
use base64::Engine;
use uuid::Uuid;

use crate::error::{Reason, ServiceError, api_error};
use crate::service::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};

const CURSOR_PREFIX: &str = "c1:";

#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many records match, over all pages.
    pub total_count: i64,
}

pub type LinliConnection<N> = Connection<String, N, TotalCount, EmptyFields>;

pub fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Uuid::parse_str(text.strip_prefix(CURSOR_PREFIX)?).ok()
}

/// Reads `first` and `after` of a connection field into a page to fetch;
/// the total is counted only when the query selects `totalCount`.
pub fn page_request_for(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let mut page = page_request(first, after)?;
    page.with_total = ctx.look_ahead().field("totalCount").exists();
    Ok(page)
}

/// Reads `first` and `after` into a page to fetch (with its total).
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let limit = match first {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if n < 0 => {
            return Err(api_error(ServiceError::bad_input(
                Reason::PageSizeOutOfRange,
                "first",
                "first 不能为负数",
            )));
        }
        Some(n) if n as u64 > MAX_PAGE_SIZE => {
            return Err(api_error(ServiceError::bad_input(
                Reason::PageSizeOutOfRange,
                "first",
                format!("每页最多{MAX_PAGE_SIZE}条"),
            )));
        }
        Some(n) => n as u64,
    };
    let after = match after {
        None => None,
        Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(|| {
            api_error(ServiceError::bad_input(
                Reason::CursorInvalid,
                "after",
                "分页游标无效",
            ))
        })?),
    };
    Ok(PageRequest {
        limit,
        after,
        with_total: true,
    })
}

/// Maps a fetched page to a connection; `id_of` gives each row's cursor key.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    id_of: impl Fn(&T) -> Uuid,
    to_node: impl Fn(T) -> N,
) -> LinliConnection<N> {
    let mut connection = Connection::with_additional_fields(
        false,
        page.has_next_page,
        TotalCount {
            total_count: page.total_count as i64,
        },
    );
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(encode_cursor(id_of(&item)), to_node(item))),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(""), None);
        let wrong_prefix =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("x1:{id}"));
        assert_eq!(decode_cursor(&wrong_prefix), None);
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert!(page_request(Some(-1), None).is_err());
        assert!(page_request(Some(101), None).is_err());
        assert_eq!(
            page_request(None, None).ok().map(|p| p.limit),
            Some(DEFAULT_PAGE_SIZE)
        );
        assert!(page_request(Some(5), Some("junk".into())).is_err());
    }
}
