//! Personal data (issue 8): sealing rows written before encryption.

use chrono::Utc;
use entity::org::membership;
use entity::org::{personal_data_key, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::crypto::{DataKeys, SEALED_PREFIX, SealedColumn};
use crate::db::begin_write;
use crate::service::validate;

/// Rows sealed per transaction at start.
const SEAL_BATCH: u64 = 200;

// ---------- at start: the key check and sealing legacy plaintext ----------

/// How many plaintext values [`prepare`] sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    pub login_phones: u64,
    pub membership_phones: u64,
}

/// Run after migrating and before serving (the binary and the test servers
/// do): refuses a key other than the one the database's personal data is
/// sealed with, then seals every phone still stored as plaintext (rows
/// written before encryption), one transaction per batch. Running it again
/// seals nothing.
pub async fn prepare(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<SealReport> {
    check_key(db, keys).await?;
    let report = SealReport {
        login_phones: seal_login_phones(db, keys).await?,
        membership_phones: seal_membership_phones(db, keys).await?,
    };
    if report != SealReport::default() {
        tracing::info!(
            login_phones = report.login_phones,
            membership_phones = report.membership_phones,
            "sealed phone numbers stored as plaintext"
        );
    }
    Ok(report)
}

/// Keeps the key's fingerprint on the first start; afterwards a process
/// with another key stops here, before it writes anything nobody could read.
async fn check_key(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<()> {
    let stored = personal_data_key::Entity::find_by_id(1).one(db).await?;
    let stored = match stored {
        Some(row) => row,
        None => {
            let inserted = personal_data_key::ActiveModel {
                id: Set(1),
                fingerprint: Set(keys.fingerprint().to_string()),
                created_at: Set(Utc::now()),
            }
            .insert(db)
            .await;
            // Another replica starting at the same moment may have won.
            match inserted {
                Ok(row) => row,
                Err(_) => personal_data_key::Entity::find_by_id(1)
                    .one(db)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("cannot record the data key fingerprint"))?,
            }
        }
    };
    if stored.fingerprint != keys.fingerprint() {
        anyhow::bail!(
            "DATA_ENCRYPTION_KEY is not the key this database's personal data was sealed with \
             (fingerprint {} here, {} in the database, recorded {}): start with the original key \
             (DATA_ENCRYPTION_KEY, or the data_encryption_key file of the data folder)",
            keys.fingerprint(),
            stored.fingerprint,
            stored.created_at.to_rfc3339()
        );
    }
    Ok(())
}

fn plaintext(column: impl ColumnTrait) -> Condition {
    Condition::all()
        .add(column.is_not_null())
        .add(column.ne(""))
        .add(column.not_like(format!("{SEALED_PREFIX}%")))
}

async fn seal_login_phones(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let txn = begin_write(db).await?;
        let rows = user::Entity::find()
            .filter(plaintext(user::Column::LoginPhoneSealed))
            .order_by_asc(user::Column::Id)
            .limit(SEAL_BATCH)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(sealed);
        }
        for row in rows {
            let Some(stored) = row.login_phone_sealed.as_deref() else {
                continue;
            };
            // Phones were validated before they were stored; an odd legacy
            // value is sealed as it is, trimmed.
            let phone = validate::phone("phone", stored).unwrap_or_else(|_| stored.trim().into());
            user::Entity::update_many()
                .col_expr(
                    user::Column::LoginPhoneSealed,
                    Expr::value(Some(keys.seal(SealedColumn::LoginPhone, row.id, &phone)?)),
                )
                .col_expr(
                    user::Column::LoginPhoneBlindIndex,
                    Expr::value(Some(keys.phone_index(&phone))),
                )
                .filter(user::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            sealed += 1;
        }
        txn.commit().await?;
    }
}

async fn seal_membership_phones(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let txn = begin_write(db).await?;
        let rows = membership::Entity::find()
            .filter(plaintext(membership::Column::PhoneSealed))
            .order_by_asc(membership::Column::Id)
            .limit(SEAL_BATCH)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(sealed);
        }
        for row in rows {
            let phone = row.phone_sealed.trim();
            membership::Entity::update_many()
                .col_expr(
                    membership::Column::PhoneSealed,
                    Expr::value(keys.seal(SealedColumn::MembershipPhone, row.id, phone)?),
                )
                .filter(membership::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            sealed += 1;
        }
        txn.commit().await?;
    }
}
