//! Keyset pagination over UUID v7 ids (which sort by creation time).

use sea_orm::DbErr;
use uuid::Uuid;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// One page to fetch: at most `limit` rows with ids after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<Uuid>,
    /// Whether the total over all pages is wanted. Counting reads every
    /// matching row, so a page whose client did not ask for `totalCount`
    /// skips it and stays as fast on a million rows as on a thousand.
    pub with_total: bool,
}

impl PageRequest {
    /// Runs `count` when the total is wanted; 0 (never shown) otherwise.
    pub async fn total(
        &self,
        count: impl Future<Output = Result<u64, DbErr>>,
    ) -> Result<u64, DbErr> {
        if self.with_total { count.await } else { Ok(0) }
    }
}

/// One page fetched, with whether more follow and how many match in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub total_count: u64,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u64, total_count: u64) -> Self {
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Page {
            items: rows,
            has_next_page,
            total_count,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            total_count: self.total_count,
        }
    }
}
