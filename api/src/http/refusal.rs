//! Refusals made before a GraphQL operation runs, over HTTP and WebSocket
//! alike: each has `extensions.code` (the class a client branches on, as
//! the service errors have) and `extensions.reason` (what exactly, in
//! SCREAMING_SNAKE_CASE, from the one enum `crate::error::Reason`).
//! [`refusal_error`] is the one function that builds their error bodies.
//!
//! | reason | code | HTTP | socket |
//! | --- | --- | --- | --- |
//! | RATE_LIMITED_IP, RATE_LIMITED_USER | RATE_LIMITED (+ `retryAfter`) | 429, `Retry-After` | error payload of the operation |
//! | TOKEN_EXPIRED, TOKEN_INVALID | UNAUTHENTICATED | 401, `WWW-Authenticate` | close 4401 |
//! | SESSION_REVOKED | UNAUTHENTICATED | 401 | close 4403 |
//! | BODY_TOO_LARGE | BAD_REQUEST | 413 | — |
//! | UNSUPPORTED_MEDIA_TYPE | BAD_REQUEST | 415 | — |
//! | MALFORMED_REQUEST | BAD_REQUEST | 400 | — |
//! | MUTATION_OVER_GET | BAD_REQUEST | 405, `Allow: POST` | — |
//!
//! The document limits (DOCUMENT_TOO_LARGE, DOCUMENT_TOO_DEEP,
//! TOO_MANY_FIELDS, TOO_MANY_DIRECTIVES) are GraphQL request errors made by
//! `crate::graphql::limits`, answered like the schema's validation errors.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use async_graphql::{ErrorExtensionValues, ServerError};
use serde_json::json;

use crate::auth::jwt::TokenError;
use crate::error::{Reason, ServiceError};
use crate::ratelimit::retry_after_secs;

use super::graphql::MediaType;

/// The WebSocket close code of a socket whose token is no longer valid.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// The WebSocket close code of a socket whose user was erased.
pub const CLOSE_FORBIDDEN: u16 = 4403;

/// Whose limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Ip,
    User,
}

/// An operation refused before it ran.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    /// The error a client reads (built by [`refusal_error`]).
    error: Box<ServerError>,
    /// Seconds until trying again helps (rate limits).
    retry_after: Option<u64>,
    /// How a socket answers it: closed with this code, or (None) the
    /// operation answered with the error.
    close: Option<u16>,
}

impl Refusal {
    fn new(status: StatusCode, reason: Reason, message: &str) -> Self {
        Refusal {
            status,
            error: Box::new(refusal_error(message, reason, None)),
            retry_after: None,
            close: None,
        }
    }

    pub fn rate_limited(scope: LimitScope, wait: Duration) -> Self {
        let secs = retry_after_secs(wait);
        let reason = match scope {
            LimitScope::Ip => Reason::RateLimitedIp,
            LimitScope::User => Reason::RateLimitedUser,
        };
        Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: Box::new(refusal_error(
                &format!("请求过于频繁，请{secs}秒后再试"),
                reason,
                Some(secs),
            )),
            retry_after: Some(secs),
            close: None,
        }
    }

    /// The database could not tell whether the caller may act: answered as
    /// every request is while it cannot be reached (200, the service
    /// error's code), and a socket stays open.
    pub fn unavailable(err: ServiceError) -> Self {
        // The mapping logs an internal error's whole chain.
        let error = async_graphql::Error::from(err);
        let mut server_error = ServerError::new(error.message, None);
        server_error.extensions = error.extensions;
        Refusal {
            status: StatusCode::OK,
            error: Box::new(server_error),
            retry_after: None,
            close: None,
        }
    }

    pub fn token(err: TokenError) -> Self {
        let refusal = match err {
            TokenError::Expired => Refusal::new(
                StatusCode::UNAUTHORIZED,
                Reason::TokenExpired,
                "登录已过期，请刷新登录状态",
            ),
            TokenError::Invalid => Refusal::new(
                StatusCode::UNAUTHORIZED,
                Reason::TokenInvalid,
                "登录凭证无效，请重新登录",
            ),
        };
        Refusal {
            close: Some(CLOSE_UNAUTHORIZED),
            ..refusal
        }
    }

    /// The token's user was erased (or is gone): its tokens no longer work.
    pub fn session_revoked() -> Self {
        Refusal {
            close: Some(CLOSE_FORBIDDEN),
            ..Refusal::new(
                StatusCode::UNAUTHORIZED,
                Reason::SessionRevoked,
                "该账号已注销，登录凭证不再有效",
            )
        }
    }

    pub fn body_too_large(limit: usize) -> Self {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Reason::BodyTooLarge,
            &format!("请求体过大：最多{}KB", limit / 1024),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reason::UnsupportedMediaType,
            "请求须为 application/json",
        )
    }

    pub fn malformed(message: &str) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, Reason::MalformedRequest, message)
    }

    pub fn mutation_over_get() -> Self {
        Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Reason::MutationOverGet,
            "变更操作须使用 POST",
        )
    }

    /// How a socket answers it: closed with this code, or (None) the
    /// operation answered with the error.
    pub fn close_code(&self) -> Option<u16> {
        self.close
    }

    /// The GraphQL error of this refusal.
    pub fn error(&self) -> ServerError {
        (*self.error).clone()
    }

    /// `extensions.code` (for the metrics).
    pub fn code(&self) -> String {
        match self
            .error
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
        {
            Some(async_graphql::Value::String(code)) => code.clone(),
            _ => String::new(),
        }
    }

    /// The HTTP answer: the status, the error as the body, and the headers
    /// that go with it.
    pub fn response(&self, media: MediaType) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, media.content_type()));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                response.insert_header((header::ALLOW, HeaderValue::from_static("POST")));
            }
            _ => {}
        }
        response.body(json!({"errors": [self.error]}).to_string())
    }
}

/// The error of a refusal: `message`, `extensions.code`,
/// `extensions.reason`, and `extensions.retryAfter` when trying again later
/// helps.
pub fn refusal_error(message: &str, reason: Reason, retry_after: Option<u64>) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", reason.code().as_str());
    extensions.set("reason", reason.as_str());
    if let Some(secs) = retry_after {
        extensions.set("retryAfter", secs);
    }
    let mut error = ServerError::new(message, None);
    error.extensions = Some(extensions);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_code_a_reason_and_a_chinese_message() {
        let refusals = [
            Refusal::rate_limited(LimitScope::Ip, Duration::from_millis(1500)),
            Refusal::rate_limited(LimitScope::User, Duration::ZERO),
            Refusal::token(TokenError::Expired),
            Refusal::token(TokenError::Invalid),
            Refusal::session_revoked(),
            Refusal::body_too_large(1 << 20),
            Refusal::unsupported_media_type(),
            Refusal::malformed("请求体不是合法的 JSON"),
            Refusal::mutation_over_get(),
        ];
        for refusal in refusals {
            let body = serde_json::to_value(refusal.error()).unwrap_or_default();
            assert_eq!(body["extensions"]["code"], refusal.code(), "{body}");
            let code = refusal.code();
            assert!(!code.is_empty(), "{body}");
            let reason = body["extensions"]["reason"].as_str().unwrap_or_default();
            assert!(
                !reason.is_empty() && reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{body}"
            );
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{body}"
            );
        }
        let limited = Refusal::rate_limited(LimitScope::Ip, Duration::from_millis(1500)).error();
        let body = serde_json::to_value(limited).unwrap_or_default();
        assert_eq!(body["extensions"]["retryAfter"], 2);
        assert_eq!(
            Refusal::token(TokenError::Expired).close_code(),
            Some(CLOSE_UNAUTHORIZED)
        );
        assert_eq!(
            Refusal::session_revoked().close_code(),
            Some(CLOSE_FORBIDDEN)
        );
        assert_eq!(
            Refusal::rate_limited(LimitScope::User, Duration::ZERO).close_code(),
            None
        );
    }
}
