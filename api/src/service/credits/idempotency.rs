//! Idempotency keys of client-requested postings.
//!
//! A key is unique per community (a unique index). The first request with a
//! key claims it inside its own transaction; its result (the ids it
//! returned) is stored on the key row before commit. A later request with
//! the same key and the same request (same hash of operation, caller and
//! every argument) gets that first result back and posts nothing; with a
//! different request it is refused with CONFLICT. When the first request
//! fails, its transaction (and so its claim) rolls back and the key is free.
//!
//! Two requests with one key at once: on SQLite the write transactions are
//! serial (BEGIN IMMEDIATE); on PostgreSQL the second INSERT waits on the
//! unique index for the first transaction, then does nothing (ON CONFLICT DO
//! NOTHING) and reads the committed claim: either way one posts, the other
//! replays.

use chrono::Utc;
use entity::credits::idempotency_key;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Reason, ServiceError, ServiceResult};

/// One client request as its idempotency key sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub community_id: Uuid,
    pub key: String,
    pub operation: &'static str,
    pub actor_id: Uuid,
    pub hash: String,
}

impl Request {
    /// `fields` are every argument of the request, in a fixed order.
    pub fn new(
        community_id: Uuid,
        key: &str,
        operation: &'static str,
        actor_id: Uuid,
        fields: &[String],
    ) -> ServiceResult<Self> {
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ServiceError::bad_input(
                Reason::InvalidField,
                "idempotencyKey",
                "幂等键不能为空，且不超过128个字符",
            ));
        }
        let mut hasher = Sha256::new();
        for part in [operation.to_string(), actor_id.to_string()]
            .iter()
            .chain(fields)
        {
            hasher.update(part.as_bytes());
            hasher.update([0x1f]);
        }
        let hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Request {
            community_id,
            key: key.to_string(),
            operation,
            actor_id,
            hash,
        })
    }
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is ours (the id of its row): do the work, then [`finish`].
    Fresh(Uuid),
    /// The same request was made before: these are the ids it returned.
    Replay(Vec<Uuid>),
}

/// Looks the key up without claiming it (a replay needs no write lock).
pub async fn lookup<C: ConnectionTrait>(db: &C, request: &Request) -> ServiceResult<Option<Claim>> {
    let found = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::CommunityId.eq(request.community_id))
        .filter(idempotency_key::Column::Key.eq(request.key.as_str()))
        .one(db)
        .await?;
    match found {
        None => Ok(None),
        Some(row) if row.request_hash == request.hash => {
            Ok(Some(Claim::Replay(parse_ids(&row.result_ids)?)))
        }
        Some(_) => Err(ServiceError::conflict(
            Reason::IdempotencyKeyReused,
            "该幂等键已用于另一笔不同的请求，请换一个幂等键",
        )),
    }
}

/// Claims the key inside the caller's write transaction.
pub async fn claim<C: ConnectionTrait>(txn: &C, request: &Request) -> ServiceResult<Claim> {
    if let Some(found) = lookup(txn, request).await? {
        return Ok(found);
    }
    let id = Uuid::now_v7();
    let inserted = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        id: Set(id),
        community_id: Set(request.community_id),
        key: Set(request.key.clone()),
        operation: Set(request.operation.to_string()),
        actor_id: Set(request.actor_id),
        request_hash: Set(request.hash.clone()),
        result_ids: Set(String::new()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(txn)
    .await?;
    match inserted {
        TryInsertResult::Inserted(n) if n > 0 => Ok(Claim::Fresh(id)),
        // Another transaction committed this key while we waited.
        _ => lookup(txn, request).await?.ok_or_else(|| {
            ServiceError::internal(anyhow::anyhow!("idempotency key vanished after conflict"))
        }),
    }
}

/// Stores the result of a fresh request on its key, in the same transaction.
pub async fn finish<C: ConnectionTrait>(txn: &C, key_id: Uuid, ids: &[Uuid]) -> ServiceResult<()> {
    let joined = ids
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",");
    idempotency_key::Entity::update_many()
        .col_expr(idempotency_key::Column::ResultIds, Expr::value(joined))
        .filter(idempotency_key::Column::Id.eq(key_id))
        .exec(txn)
        .await?;
    Ok(())
}

fn parse_ids(joined: &str) -> ServiceResult<Vec<Uuid>> {
    joined
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Uuid::parse_str(s)
                .map_err(|e| ServiceError::internal(anyhow::anyhow!("bad stored result id: {e}")))
        })
        .collect()
}
