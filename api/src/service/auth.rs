//! Logging in (WeChat, phone + password), rotating refresh tokens, logging out.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use entity::auth::refresh_token;
use entity::org::user;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::password::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::auth::wechat::WechatError;
use crate::crypto::{DataKeys, SealedColumn};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::Actor;
use crate::service::validate;
use crate::state::AppState;

pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);
/// Failed password logins in a row that lock the account.
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
const DEFAULT_WECHAT_NAME: &str = "微信用户";

/// A signed-in session: what the client keeps.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
}

pub async fn wechat_login(state: &AppState, code: &str) -> ServiceResult<AuthSession> {
    let code = validate::text("code", code, 256)?;
    let identity = state
        .wechat
        .code2session(&code)
        .await
        .map_err(|err| match err {
            WechatError::InvalidCode => ServiceError::bad_input(
                Reason::WechatCodeInvalid,
                "code",
                "微信登录凭证无效或已过期，请重新进入小程序",
            ),
            WechatError::Blocked => ServiceError::Forbidden(Reason::WechatUserBlocked),
            WechatError::RateLimited => ServiceError::RateLimited {
                reason: Reason::WechatRateLimited,
                message: "微信登录过于频繁，请稍后再试".into(),
                retry_after_secs: 60,
            },
            // A setting of this deployment, not a fault: the same answer
            // every time, so not INTERNAL.
            WechatError::NotConfigured => ServiceError::invalid_state(
                Reason::WechatNotConfigured,
                "微信登录尚未配置，请联系社区工作人员",
            ),
            WechatError::Unavailable(why) => {
                tracing::warn!(reason = %why, "code2session failed");
                ServiceError::wechat_unavailable()
            }
        })?;

    let txn = begin_write(&state.db).await?;
    let existing = user::Entity::find()
        .filter(user::Column::WechatOpenid.eq(identity.openid.as_str()))
        .one(&txn)
        .await?;
    let user = match existing {
        Some(found) => {
            if identity.unionid.is_some() && found.wechat_unionid != identity.unionid {
                let mut active: user::ActiveModel = found.into();
                active.wechat_unionid = Set(identity.unionid.clone());
                active.update(&txn).await?
            } else {
                found
            }
        }
        None => {
            let created = user::ActiveModel {
                id: Set(Uuid::now_v7()),
                display_name: Set(DEFAULT_WECHAT_NAME.to_string()),
                wechat_openid: Set(Some(identity.openid.clone())),
                wechat_unionid: Set(identity.unionid.clone()),
                login_phone_sealed: Set(None),
                login_phone_blind_index: Set(None),
                password_hash: Set(None),
                is_platform_admin: Set(false),
                failed_login_count: Set(0),
                locked_until: Set(None),
                created_at: Set(Utc::now()),
                erased_at: Set(None),
            }
            .insert(&txn)
            .await?;
            audit::record(
                &txn,
                AuditEntry::new("user", created.id, "register_wechat").actor(Some(created.id)),
            )
            .await?;
            created
        }
    };
    let session = start_session(state, &txn, user).await?;
    txn.commit().await?;
    Ok(session)
}

/// The one answer to a password login that fails, whatever the cause (no
/// such phone, a wrong password, a locked account), so that it tells nobody
/// which phones have accounts or which accounts are locked.
pub const LOGIN_REFUSED: &str = "手机号或密码错误；连续输错5次，账号将锁定15分钟";

pub async fn password_login(
    state: &AppState,
    phone: &str,
    password: &str,
) -> ServiceResult<AuthSession> {
    let refused = || ServiceError::Unauthenticated(Reason::CredentialsWrong, LOGIN_REFUSED);
    let Ok(phone) = validate::phone("phone", phone) else {
        return Err(refused());
    };
    let found = user::Entity::find()
        .filter(user::Column::LoginPhoneBlindIndex.eq(state.keys.phone_index(&phone)))
        .filter(user::Column::ErasedAt.is_null())
        .one(&state.db)
        .await?;
    let claimed = match found {
        Some(user) => {
            let txn = begin_write(&state.db).await?;
            let claimed = claim_attempt(&txn, user.id, Utc::now()).await?;
            txn.commit().await?;
            claimed
        }
        None => None,
    };
    // No account, or a locked one: the same time spent, the same answer.
    let Some(user) = claimed else {
        state.passwords.spend_dummy(password.to_string()).await;
        return Err(refused());
    };
    let matches = state
        .passwords
        .verify(password.to_string(), user.password_hash.clone())
        .await;
    if !matches {
        // This attempt was the last one allowed: its claim set the lock.
        if user.locked_until.is_some() {
            let txn = begin_write(&state.db).await?;
            audit::record(
                &txn,
                AuditEntry::new("user", user.id, "lock_after_failed_logins"),
            )
            .await?;
            txn.commit().await?;
        }
        return Err(refused());
    }
    let txn = begin_write(&state.db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::FailedLoginCount, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    let user = user::Model {
        failed_login_count: 0,
        locked_until: None,
        ..user
    };
    let session = start_session(state, &txn, user).await?;
    txn.commit().await?;
    Ok(session)
}

/// Claims one password attempt for `user_id` before the password is
/// checked, in one conditional UPDATE: it counts the attempt, and the
/// attempt that reaches [`MAX_FAILED_LOGINS`] also sets the lock. A locked
/// account claims nothing (None), so however many attempts arrive at once,
/// at most `MAX_FAILED_LOGINS` are checked against the account's hash per
/// lock. A lock that has run out starts the count again. A success resets
/// the count afterwards.
async fn claim_attempt<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<Option<user::Model>> {
    // The WHERE below lets a locked row through only once its lock ended.
    let lock_ended = user::Column::LockedUntil.is_not_null();
    let count = Expr::case(lock_ended, Expr::value(1))
        .finally(Expr::col(user::Column::FailedLoginCount).add(1));
    let reaches_max = Expr::col(user::Column::LockedUntil).is_null().and(
        Expr::col(user::Column::FailedLoginCount)
            .add(1)
            .gte(MAX_FAILED_LOGINS),
    );
    let lock = Expr::case(reaches_max, Expr::value(Some(now + LOCKOUT)))
        .finally(Expr::value(Option::<DateTime<Utc>>::None));
    let claimed = user::Entity::update_many()
        .col_expr(user::Column::FailedLoginCount, count.into())
        .col_expr(user::Column::LockedUntil, lock.into())
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::ErasedAt.is_null())
        .filter(
            Condition::any()
                .add(user::Column::LockedUntil.is_null())
                .add(user::Column::LockedUntil.lte(now)),
        )
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Spends a refresh token and issues the next one of its family. A token that
/// was already spent means it leaked: the whole family is revoked.
pub async fn refresh(state: &AppState, presented: &str) -> ServiceResult<AuthSession> {
    let invalid = ServiceError::session_invalid;
    let now = Utc::now();
    let txn = begin_write(&state.db).await?;
    let Some(token) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_token(presented)))
        .one(&txn)
        .await?
    else {
        return Err(invalid());
    };
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(invalid());
    }
    // Spend it only if nobody else has: the condition makes a race a reuse.
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::Id.eq(token.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        revoke_family(&txn, token.family_id, now).await?;
        audit::record(
            &txn,
            AuditEntry::new("refresh_token", token.family_id, "reuse_revoked_family")
                .actor(Some(token.user_id)),
        )
        .await?;
        txn.commit().await?;
        tracing::warn!(user_id = %token.user_id, "refresh token reused: family revoked");
        return Err(invalid());
    }
    let user = user::Entity::find_by_id(token.user_id)
        .one(&txn)
        .await?
        .filter(|u| u.erased_at.is_none())
        .ok_or_else(invalid)?;
    let session = issue_session(state, &txn, user, token.family_id, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Revokes the family of `presented`; only its owner may.
pub async fn logout(state: &AppState, actor: &Actor, presented: &str) -> ServiceResult<bool> {
    let user_id = actor.user_id()?;
    let txn = begin_write(&state.db).await?;
    let token = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_token(presented)))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .one(&txn)
        .await?;
    let Some(token) = token else {
        return Ok(false);
    };
    revoke_family(&txn, token.family_id, Utc::now()).await?;
    txn.commit().await?;
    Ok(true)
}

/// Sets the caller's phone + password login (staff who came in by WeChat);
/// changing an existing password needs the current one.
pub async fn set_password(
    state: &AppState,
    actor: &Actor,
    phone: &str,
    new_password: &str,
    current_password: Option<&str>,
) -> ServiceResult<user::Model> {
    let user_id = actor.user_id()?;
    let phone = validate::phone("phone", phone)?;
    check_password_strength("password", new_password)?;
    let user = user::Entity::find_by_id(user_id)
        .one(&state.db)
        .await?
        .ok_or_else(ServiceError::session_invalid)?;
    if user.password_hash.is_some() {
        let current = current_password.unwrap_or_default().to_string();
        if !state
            .passwords
            .verify(current, user.password_hash.clone())
            .await
        {
            return Err(ServiceError::bad_input(
                Reason::CurrentPasswordWrong,
                "currentPassword",
                "当前密码不正确",
            ));
        }
    }
    let hash = password::hash_password(new_password.to_string())
        .await
        .map_err(ServiceError::internal)?;
    let blind_index = state.keys.phone_index(&phone);
    let sealed = state.keys.seal(SealedColumn::LoginPhone, user_id, &phone)?;
    let txn = begin_write(&state.db).await?;
    let taken = user::Entity::find()
        .filter(user::Column::LoginPhoneBlindIndex.eq(blind_index.as_str()))
        .filter(user::Column::Id.ne(user_id))
        .one(&txn)
        .await?;
    if taken.is_some() {
        return Err(ServiceError::conflict(Reason::PhoneTaken, PHONE_TAKEN));
    }
    let mut active: user::ActiveModel = user.into();
    active.login_phone_sealed = Set(Some(sealed));
    active.login_phone_blind_index = Set(Some(blind_index));
    active.password_hash = Set(Some(hash));
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        AuditEntry::new("user", user_id, "set_password").actor(Some(user_id)),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Two people claiming one phone at once: the UNIQUE blind index decides,
/// and `error::CONSTRAINTS` answers with this same message.
const PHONE_TAKEN: &str = "该手机号已被其他账号使用";

/// Whether an access token's user may still act: the user exists and has
/// not erased their account. Checked for every request that carries a token.
pub async fn session_user_is_live<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> ServiceResult<bool> {
    let found: Option<Option<DateTime<Utc>>> = user::Entity::find_by_id(user_id)
        .select_only()
        .column(user::Column::ErasedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(matches!(found, Some(None)))
}

/// The login phone of a user, opened (for the user's own export).
pub fn open_login_phone(keys: &DataKeys, user: &user::Model) -> ServiceResult<Option<String>> {
    match &user.login_phone_sealed {
        Some(sealed) => Ok(Some(keys.open(
            SealedColumn::LoginPhone,
            user.id,
            sealed,
        )?)),
        None => Ok(None),
    }
}

pub fn check_password_strength(field: &'static str, password: &str) -> ServiceResult<()> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ServiceError::bad_input(
            Reason::PasswordLengthInvalid,
            field,
            format!("密码长度须为{MIN_PASSWORD_CHARS}到{MAX_PASSWORD_CHARS}个字符"),
        ));
    }
    Ok(())
}

async fn start_session<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    user: user::Model,
) -> ServiceResult<AuthSession> {
    issue_session(state, db, user, Uuid::now_v7(), Utc::now()).await
}

async fn issue_session<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    user: user::Model,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<AuthSession> {
    let (access_token, expires_at) = state
        .jwt
        .issue(user.id, now)
        .map_err(ServiceError::internal)?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let refresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        family_id: Set(family_id),
        token_hash: Set(hash_token(&refresh)),
        expires_at: Set(now + REFRESH_TOKEN_TTL),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(AuthSession {
        access_token,
        refresh_token: refresh,
        expires_at,
        user,
    })
}

async fn revoke_family<C: ConnectionTrait>(
    db: &C,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Used by the CLI and the demo seed: creates a user with a phone + password login.
pub async fn create_password_user<C: ConnectionTrait>(
    db: &C,
    keys: &DataKeys,
    phone: &str,
    display_name: &str,
    password: &str,
    is_platform_admin: bool,
) -> ServiceResult<user::Model> {
    let phone = validate::phone("phone", phone)?;
    let display_name = validate::text("displayName", display_name, 64)?;
    check_password_strength("password", password)?;
    let hash = password::hash_password(password.to_string())
        .await
        .map_err(ServiceError::internal)?;
    let blind_index = keys.phone_index(&phone);
    let existing = user::Entity::find()
        .filter(user::Column::LoginPhoneBlindIndex.eq(blind_index.as_str()))
        .one(db)
        .await?;
    if existing.is_some() {
        return Err(ServiceError::conflict(
            Reason::PhoneTaken,
            "该手机号已有账号",
        ));
    }
    let id = Uuid::now_v7();
    let created = user::ActiveModel {
        id: Set(id),
        display_name: Set(display_name),
        wechat_openid: Set(None),
        wechat_unionid: Set(None),
        login_phone_sealed: Set(Some(keys.seal(SealedColumn::LoginPhone, id, &phone)?)),
        login_phone_blind_index: Set(Some(blind_index)),
        password_hash: Set(Some(hash)),
        is_platform_admin: Set(is_platform_admin),
        failed_login_count: Set(0),
        locked_until: Set(None),
        created_at: Set(Utc::now()),
        erased_at: Set(None),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        AuditEntry::new("user", created.id, "create_password_user"),
    )
    .await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_limit_and_the_lock() {
        assert!(LOGIN_REFUSED.contains(&format!("连续输错{MAX_FAILED_LOGINS}次")));
        assert!(LOGIN_REFUSED.contains(&format!("锁定{}分钟", LOCKOUT.num_minutes())));
    }
}
