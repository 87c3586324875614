//! What every request shares: built once at start, cloned cheaply.
//!
//! It sits below the services (which read the keys and settings from it),
//! so it names nothing of them nor of the layers above: the live tally hub
//! (`crate::realtime`) is schema data, not state.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::auth::live::LiveSessions;
use crate::auth::password::Passwords;
use crate::auth::wechat::WechatClient;
use crate::config::Settings;
use crate::crypto::DataKeys;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub jwt: JwtKeys,
    /// Seals and looks up personal data (phones) at rest.
    pub keys: DataKeys,
    pub wechat: WechatClient,
    pub settings: Arc<Settings>,
    /// Token holders recently checked to exist and not be erased.
    pub live_sessions: LiveSessions,
    /// Password checks (argon2, capped per core) and their counter.
    pub passwords: Passwords,
}

impl AppState {
    pub fn new(settings: Settings, db: DatabaseConnection) -> anyhow::Result<Self> {
        let keys = settings.data_keys()?;
        Self::with_keys(settings, db, keys)
    }

    /// With personal-data keys already resolved (the binary resolves them
    /// before it seals legacy rows at start).
    pub fn with_keys(
        settings: Settings,
        db: DatabaseConnection,
        keys: DataKeys,
    ) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(&settings.resolve_jwt_secret()?);
        let wechat = WechatClient::new(
            &settings.wechat_api_base,
            &settings.wechat_app_id,
            settings.wechat_app_secret.clone(),
        )?;
        Ok(AppState {
            db,
            jwt,
            keys,
            wechat,
            settings: Arc::new(settings),
            live_sessions: LiveSessions::default(),
            passwords: Passwords::new()?,
        })
    }
}
