//! Keyset pagination over UUID v7 ids (which sort by creation time).

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Iterable, PaginatorTrait,
    PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, Select, Value,
};
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

/// The order a list is paged in. Each ends on the row's UUID v7 id, so the
/// cursor (the last row's id) names one place in it.
#[derive(Debug, Clone)]
pub enum Order<C> {
    /// By id: oldest first.
    OldestFirst,
    /// By id: newest first.
    NewestFirst,
    /// Highest `key` first, then oldest first. `cursor_key` is `key` on the
    /// cursor's row, which the caller reads back (None on a first page).
    KeyDescThenOldest { key: C, cursor_key: Option<Value> },
}

/// The id column of an entity whose primary key is one UUID.
pub fn id_column<E>() -> Result<E::Column, DbErr>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    E::PrimaryKey::iter()
        .next()
        .map(PrimaryKeyToColumn::into_column)
        .ok_or_else(|| DbErr::Custom("entity without a primary key".into()))
}

/// Fetches one page of `select` in `order`: `limit + 1` rows after the
/// cursor, and the total over all pages when the request wants it.
pub async fn paginate<E, C>(
    db: &C,
    select: Select<E>,
    order: Order<E::Column>,
    request: PageRequest,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let id = id_column::<E>()?;
    let total = request.total(select.clone().count(db)).await?;
    let query = match order {
        Order::OldestFirst => match request.after {
            Some(after) => select.filter(id.gt(after)),
            None => select,
        }
        .order_by_asc(id),
        Order::NewestFirst => match request.after {
            Some(after) => select.filter(id.lt(after)),
            None => select,
        }
        .order_by_desc(id),
        Order::KeyDescThenOldest { key, cursor_key } => match (request.after, cursor_key) {
            (Some(after), Some(rank)) => select.filter(
                Condition::any()
                    .add(key.lt(rank.clone()))
                    .add(Condition::all().add(key.eq(rank)).add(id.gt(after))),
            ),
            _ => select,
        }
        .order_by_desc(key)
        .order_by_asc(id),
    };
    let rows = query.limit(request.limit + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, request.limit, total))
}
