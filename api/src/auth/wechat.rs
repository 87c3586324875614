//! WeChat mini-program login: exchanging a `js_code` for the user's openid
//! (`/sns/jscode2session`). The session_key WeChat returns is never kept or logged.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    api_base: String,
    app_id: String,
    app_secret: Option<SecretString>,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("api_base", &self.api_base)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatIdentity {
    pub openid: String,
    pub unionid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WechatError {
    /// The code is wrong, expired or used (40029, 40163).
    InvalidCode,
    /// WeChat refuses the user as high risk (40226).
    Blocked,
    /// Too many calls (45011).
    RateLimited,
    /// WeChat is busy (-1), unreachable, or answered something unexpected.
    Unavailable(String),
    /// WECHAT_APP_ID / WECHAT_APP_SECRET are not set.
    NotConfigured,
}

/// Only the fields Linli uses: session_key is not even deserialised.
#[derive(Deserialize)]
struct Code2SessionReply {
    openid: Option<String>,
    unionid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl WechatClient {
    pub fn new(
        api_base: &str,
        app_id: &str,
        app_secret: Option<SecretString>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(WechatClient {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            app_id: app_id.to_string(),
            app_secret,
        })
    }

    pub async fn code2session(&self, code: &str) -> Result<WechatIdentity, WechatError> {
        let secret = match &self.app_secret {
            Some(secret) if !self.app_id.is_empty() => secret,
            _ => return Err(WechatError::NotConfigured),
        };
        let response = self
            .http
            .get(format!("{}/sns/jscode2session", self.api_base))
            .query(&[
                ("appid", self.app_id.as_str()),
                ("secret", secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| {
                WechatError::Unavailable(format!("request failed: {}", e.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(WechatError::Unavailable(format!(
                "HTTP {}",
                response.status()
            )));
        }
        let reply: Code2SessionReply = response.json().await.map_err(|e| {
            WechatError::Unavailable(format!("unreadable reply: {}", e.without_url()))
        })?;
        match reply.errcode {
            0 => match reply.openid {
                Some(openid) if !openid.is_empty() => Ok(WechatIdentity {
                    openid,
                    unionid: reply.unionid.filter(|u| !u.is_empty()),
                }),
                _ => Err(WechatError::Unavailable("reply without openid".into())),
            },
            40029 | 40163 => Err(WechatError::InvalidCode),
            40226 => Err(WechatError::Blocked),
            45011 => Err(WechatError::RateLimited),
            -1 => Err(WechatError::Unavailable("WeChat is busy (-1)".into())),
            other => Err(WechatError::Unavailable(format!(
                "errcode {other}: {}",
                reply.errmsg
            ))),
        }
    }
}
