//! Short-lived access tokens: HS256 only, with issuer, audience, subject,
//! issued-at and expiry all required.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "linli";
pub const AUDIENCE: &str = "linli-api";
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
/// How long past its expiry a token is still accepted (clock skew).
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        JwtKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// A token for `user_id`, and when it expires.
    pub fn issue(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let expires_at = now + ACCESS_TOKEN_TTL;
        let claims = Claims {
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            sub: user_id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, expires_at))
    }

    pub fn verify(&self, token: &str) -> Result<Uuid, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        Uuid::parse_str(&data.claims.sub).map_err(|_| TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret.to_string()))
    }

    #[test]
    fn a_fresh_token_verifies() -> anyhow::Result<()> {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let user = Uuid::now_v7();
        let (token, _) = keys.issue(user, Utc::now())?;
        assert_eq!(keys.verify(&token), Ok(user));
        Ok(())
    }

    #[test]
    fn refuses_expired_foreign_and_unsigned_tokens() -> anyhow::Result<()> {
        let keys_a = keys("0123456789abcdef0123456789abcdef");
        let keys_b = keys("fedcba9876543210fedcba9876543210");
        let user = Uuid::now_v7();
        let (old, _) = keys_a.issue(user, Utc::now() - Duration::hours(1))?;
        assert_eq!(keys_a.verify(&old), Err(TokenError::Expired));
        let (foreign, _) = keys_b.issue(user, Utc::now())?;
        assert_eq!(keys_a.verify(&foreign), Err(TokenError::Invalid));
        // alg "none": header and claims without a signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let now = Utc::now().timestamp();
        let claims = b64.encode(format!(
            r#"{{"iss":"linli","aud":"linli-api","sub":"{user}","iat":{now},"exp":{}}}"#,
            now + 600
        ));
        assert_eq!(
            keys_a.verify(&format!("{header}.{claims}.")),
            Err(TokenError::Invalid)
        );
        Ok(())
    }
}
