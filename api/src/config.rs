//! Settings from the environment (and an optional `.env`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{DATA_KEY_BYTES, DataKeys};

pub const DEFAULT_WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
const JWT_SECRET_FILE: &str = "jwt_secret";
const MIN_JWT_SECRET_BYTES: usize = 32;
const DATA_KEY_FILE: &str = "data_encryption_key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

/// What the process is configured with. Every field has an environment
/// variable (README: Configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Where the data lives; the default SQLite file and the generated JWT secret go here.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: an SQLite file in DATA_DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before it is
    /// answered that the database is unavailable, in seconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = DEFAULT_DB_ACQUIRE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_acquire_timeout_secs: u64,
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,
    /// HS256 key of access tokens, at least 32 bytes.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// The key that encrypts phone numbers at rest: 32 bytes, as base64 or
    /// 64 hex digits. Losing it loses every phone number stored.
    #[arg(long, env = "DATA_ENCRYPTION_KEY", hide_env_values = true)]
    pub data_encryption_key: Option<SecretString>,
    #[arg(long, env = "WECHAT_APP_ID", default_value = "")]
    pub wechat_app_id: String,
    #[arg(long, env = "WECHAT_APP_SECRET", hide_env_values = true)]
    pub wechat_app_secret: Option<SecretString>,
    #[arg(long, env = "WECHAT_API_BASE", default_value = DEFAULT_WECHAT_API_BASE)]
    pub wechat_api_base: String,
    #[arg(long, env = "APP_ENV", value_enum, default_value = "development")]
    pub app_env: AppEnv,
    /// GraphiQL at GET /graphql; default: on, except in production.
    #[arg(long, env = "GRAPHIQL")]
    pub graphiql: Option<bool>,
    /// Schema introspection; default: on, except in production.
    #[arg(long, env = "INTROSPECTION")]
    pub introspection: Option<bool>,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// HTTP worker threads; default: one per core.
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,
    /// How long a DataLoader waits for more keys before it runs one batched
    /// query for a nested field, in milliseconds.
    #[arg(long, env = "LOADER_DELAY_MS", default_value_t = 1)]
    pub loader_delay_ms: u64,
    /// The street review score (0–100) at or above which a project enters
    /// the library (入库); below it the project is REJECTED.
    #[arg(long, env = "PROJECT_PASS_MARK", default_value_t = DEFAULT_PROJECT_PASS_MARK,
          value_parser = clap::value_parser!(i32).range(0..=100))]
    pub project_pass_mark: i32,
    /// Requests per second each client IP address may send to /graphql
    /// (a token bucket); 0 turns the per-IP limit off.
    #[arg(long, env = "RATE_LIMIT_IP_PER_SEC", default_value_t = DEFAULT_RATE_LIMIT_IP_PER_SEC)]
    pub rate_limit_ip_per_sec: f64,
    /// The burst an IP address may send at once (the bucket's size).
    #[arg(long, env = "RATE_LIMIT_IP_BURST", default_value_t = DEFAULT_RATE_LIMIT_IP_BURST)]
    pub rate_limit_ip_burst: f64,
    /// Requests per second each logged-in user may send; 0 turns it off.
    #[arg(long, env = "RATE_LIMIT_USER_PER_SEC", default_value_t = DEFAULT_RATE_LIMIT_USER_PER_SEC)]
    pub rate_limit_user_per_sec: f64,
    /// The burst a user may send at once.
    #[arg(long, env = "RATE_LIMIT_USER_BURST", default_value_t = DEFAULT_RATE_LIMIT_USER_BURST)]
    pub rate_limit_user_burst: f64,
}

pub const DEFAULT_RATE_LIMIT_IP_PER_SEC: f64 = 1000.0;
pub const DEFAULT_RATE_LIMIT_IP_BURST: f64 = 5000.0;
pub const DEFAULT_RATE_LIMIT_USER_PER_SEC: f64 = 200.0;
pub const DEFAULT_RATE_LIMIT_USER_BURST: f64 = 2000.0;

pub const DEFAULT_PROJECT_PASS_MARK: i32 = 60;

/// Short enough that a client gets an answer while the database is down
/// (PostgreSQL stopped: connecting is retried until this runs out), long
/// enough for a busy pool under load.
pub const DEFAULT_DB_ACQUIRE_TIMEOUT_SECS: u64 = 5;

impl Settings {
    /// Settings for a process that reads nothing from the environment (tests, tools).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            data_dir: data_dir.into(),
            database_url: None,
            db_max_connections: 16,
            db_acquire_timeout_secs: DEFAULT_DB_ACQUIRE_TIMEOUT_SECS,
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: None,
            data_encryption_key: None,
            wechat_app_id: String::new(),
            wechat_app_secret: None,
            wechat_api_base: DEFAULT_WECHAT_API_BASE.to_string(),
            app_env: AppEnv::Development,
            graphiql: None,
            introspection: None,
            log_format: LogFormat::Text,
            max_body_bytes: 1 << 20,
            workers: None,
            loader_delay_ms: 1,
            project_pass_mark: DEFAULT_PROJECT_PASS_MARK,
            rate_limit_ip_per_sec: DEFAULT_RATE_LIMIT_IP_PER_SEC,
            rate_limit_ip_burst: DEFAULT_RATE_LIMIT_IP_BURST,
            rate_limit_user_per_sec: DEFAULT_RATE_LIMIT_USER_PER_SEC,
            rate_limit_user_burst: DEFAULT_RATE_LIMIT_USER_BURST,
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("linli.db").display()
            ),
        }
    }

    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(self.app_env == AppEnv::Development)
    }

    pub fn introspection_enabled(&self) -> bool {
        self.introspection
            .unwrap_or(self.app_env == AppEnv::Development)
    }

    /// The JWT key: JWT_SECRET when set (refused under 32 bytes), else one
    /// generated once and kept in the data folder.
    pub fn resolve_jwt_secret(&self) -> anyhow::Result<SecretString> {
        if let Some(secret) = &self.jwt_secret {
            if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
                bail!("JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long");
            }
            return Ok(secret.clone());
        }
        let path = self.data_dir.join(JWT_SECRET_FILE);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim().to_string();
            if existing.len() >= MIN_JWT_SECRET_BYTES {
                return Ok(SecretString::from(existing));
            }
        }
        tracing::warn!(
            path = %path.display(),
            "JWT_SECRET is not set: generated one and kept it in the data folder; set JWT_SECRET in production"
        );
        let mut bytes = [0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        ensure_dir(&self.data_dir)?;
        write_private(&path, &secret)?;
        Ok(SecretString::from(secret))
    }
}

impl Settings {
    /// The personal-data keys: from DATA_ENCRYPTION_KEY when set (refused
    /// unless it is 32 bytes of base64 or hex), else from a key generated once
    /// and kept in the data folder, with a warning.
    pub fn data_keys(&self) -> anyhow::Result<DataKeys> {
        if let Some(secret) = &self.data_encryption_key {
            let bytes = parse_data_key(secret.expose_secret()).context(
                "DATA_ENCRYPTION_KEY must be 32 bytes, written as base64 or as 64 hex digits",
            )?;
            return Ok(DataKeys::from_secret(&bytes));
        }
        let path = self.data_dir.join(DATA_KEY_FILE);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let bytes = parse_data_key(existing.trim()).with_context(|| {
                format!(
                    "{} does not hold a 32-byte key (base64 or hex); restore it or set DATA_ENCRYPTION_KEY",
                    path.display()
                )
            })?;
            return Ok(DataKeys::from_secret(&bytes));
        }
        tracing::warn!(
            path = %path.display(),
            "DATA_ENCRYPTION_KEY is not set: generated one and kept it in the data folder; \
             set DATA_ENCRYPTION_KEY in production and keep a copy: without it the stored phone numbers cannot be read"
        );
        let mut bytes = [0u8; DATA_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        ensure_dir(&self.data_dir)?;
        write_private(
            &path,
            &base64::engine::general_purpose::STANDARD.encode(bytes),
        )?;
        Ok(DataKeys::from_secret(&bytes))
    }
}

/// 32 bytes as 64 hex digits, or as base64 (standard or URL-safe, padded or not).
fn parse_data_key(text: &str) -> anyhow::Result<[u8; DATA_KEY_BYTES]> {
    let text = text.trim();
    let bytes = if text.len() == 2 * DATA_KEY_BYTES && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..DATA_KEY_BYTES)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?
    } else {
        let unpadded = text.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
            .map_err(|_| anyhow::anyhow!("neither hex nor base64"))?
    };
    <[u8; DATA_KEY_BYTES]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("{} bytes, not {DATA_KEY_BYTES}", bytes.len()))
}

pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(contents.as_bytes())?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_32_bytes_of_hex_or_base64() {
        let hex = "00".repeat(16) + &"ff".repeat(16);
        assert_eq!(parse_data_key(&hex).unwrap()[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert_eq!(parse_data_key(&b64).unwrap(), [9u8; 32]);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert_eq!(parse_data_key(&url).unwrap(), [0xfb; 32]);
        for bad in ["", "short", &"00".repeat(31), "not base64 at all!!"] {
            assert!(parse_data_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_generated_data_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::for_data_dir(dir.path());
        let first = settings.data_keys().unwrap();
        let again = settings.data_keys().unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        let mut garbled = Settings::for_data_dir(dir.path());
        garbled.data_encryption_key = Some(SecretString::from("too short".to_string()));
        assert!(garbled.data_keys().is_err());
    }
}
