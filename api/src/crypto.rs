//! Personal data at rest: phone numbers (and any identity number added
//! later) are sealed with AES-256-GCM before they are written, and looked up
//! by a keyed blind index (HMAC-SHA256), never by their plaintext.
//!
//! One 32-byte secret (`DATA_ENCRYPTION_KEY`, see `config.rs`) gives, through
//! HKDF-SHA256 with distinct labels, the encryption key, the blind-index key
//! and a fingerprint that the database keeps so that a process started with
//! another key refuses to run instead of writing data nobody can read.
//!
//! A sealed value is text: `v1:` and the URL-safe base64 (no padding) of a
//! random 96-bit nonce followed by the ciphertext and its tag. The associated
//! data names the column and the row, so a sealed value copied into another
//! row or column does not open.

use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

/// Length of the secret, in bytes.
pub const DATA_KEY_BYTES: usize = 32;
/// What every sealed value starts with; a value without it is plaintext
/// (a row written before encryption, converted at start).
pub const SEALED_PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 12;

const ENCRYPTION_LABEL: &[u8] = b"linli personal data v1: AES-256-GCM";
const BLIND_INDEX_LABEL: &[u8] = b"linli personal data v1: phone blind index";
const FINGERPRINT_LABEL: &[u8] = b"linli personal data v1: key fingerprint";

/// The column a sealed value belongs to (part of its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `users.login_phone`
    LoginPhone,
    /// `membership.phone`
    MembershipPhone,
}

impl SealedColumn {
    fn label(self) -> &'static str {
        match self {
            SealedColumn::LoginPhone => "users.login_phone",
            SealedColumn::MembershipPhone => "membership.phone",
        }
    }
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Not of the `v1:` form (or not base64, or too short).
    #[error("the value is not a sealed value of a known version")]
    Malformed,
    /// The tag did not verify: another key, another row or column, or tampering.
    #[error("the value does not open with this key (another key, another row, or altered)")]
    WrongKey,
    /// AES-GCM refused to encrypt (only for messages over 64 GiB).
    #[error("encryption failed")]
    SealFailed,
}

impl From<CryptoError> for crate::error::ServiceError {
    fn from(err: CryptoError) -> Self {
        crate::error::ServiceError::internal(err)
    }
}

/// The keys derived from `DATA_ENCRYPTION_KEY`. Cheap to clone; never
/// printed (its `Debug` shows the fingerprint only).
#[derive(Clone)]
pub struct DataKeys {
    inner: Arc<Inner>,
}

struct Inner {
    cipher: Aes256Gcm,
    blind_index_key: [u8; 32],
    fingerprint: String,
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeys")
            .field("fingerprint", &self.inner.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DataKeys {
    /// Derives the keys from a 32-byte secret.
    pub fn from_secret(secret: &[u8; DATA_KEY_BYTES]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"linli"), secret);
        let mut encryption_key = [0u8; 32];
        let mut blind_index_key = [0u8; 32];
        let mut fingerprint = [0u8; 16];
        // 32 and 16 bytes are far below HKDF-SHA256's limit of 8160: these cannot fail.
        let _ = hkdf.expand(ENCRYPTION_LABEL, &mut encryption_key);
        let _ = hkdf.expand(BLIND_INDEX_LABEL, &mut blind_index_key);
        let _ = hkdf.expand(FINGERPRINT_LABEL, &mut fingerprint);
        let cipher = Aes256Gcm::new(&encryption_key.into());
        encryption_key.fill(0);
        DataKeys {
            inner: Arc::new(Inner {
                cipher,
                blind_index_key,
                fingerprint: hex(&fingerprint),
            }),
        }
    }

    /// Names the key without revealing it: kept in the database to refuse a
    /// process started with another key.
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// Seals `plaintext` for `column` of the row `row_id`, with a fresh random nonce.
    pub fn seal(
        &self,
        column: SealedColumn,
        row_id: Uuid,
        plaintext: &str,
    ) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(column, row_id);
        let ciphertext = self
            .inner
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::SealFailed)?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Opens a value sealed by [`DataKeys::seal`] for the same column and row.
    pub fn open(
        &self,
        column: SealedColumn,
        row_id: Uuid,
        sealed: &str,
    ) -> Result<String, CryptoError> {
        let encoded = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CryptoError::Malformed)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < NONCE_BYTES + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let aad = associated_data(column, row_id);
        let plaintext = self
            .inner
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Malformed)
    }

    /// The blind index of a phone number: HMAC-SHA256 of the normalised
    /// number (11 digits, as `validate::phone` returns it), in hex. Equal
    /// phones give equal indexes, so lookups and the UNIQUE constraint work
    /// without the plaintext; without the key it cannot be recomputed.
    pub fn phone_index(&self, normalised_phone: &str) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.inner.blind_index_key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(b"phone:");
        mac.update(normalised_phone.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// Whether a stored value is sealed (as opposed to legacy plaintext).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

fn associated_data(column: SealedColumn, row_id: Uuid) -> String {
    format!("{}:{}", column.label(), row_id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> DataKeys {
        DataKeys::from_secret(&[byte; DATA_KEY_BYTES])
    }

    #[test]
    fn seals_and_opens() {
        let keys = keys(7);
        let row = Uuid::now_v7();
        let sealed = keys
            .seal(SealedColumn::MembershipPhone, row, "13812345678")
            .unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("13812345678"));
        assert_eq!(
            keys.open(SealedColumn::MembershipPhone, row, &sealed),
            Ok("13812345678".to_string())
        );
        // A fresh nonce each time.
        assert_ne!(
            sealed,
            keys.seal(SealedColumn::MembershipPhone, row, "13812345678")
                .unwrap()
        );
    }

    #[test]
    fn another_key_row_or_column_does_not_open() {
        let row = Uuid::now_v7();
        let sealed = keys(1)
            .seal(SealedColumn::LoginPhone, row, "13812345678")
            .unwrap();
        assert_eq!(
            keys(2).open(SealedColumn::LoginPhone, row, &sealed),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(
            keys(1).open(SealedColumn::LoginPhone, Uuid::now_v7(), &sealed),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(
            keys(1).open(SealedColumn::MembershipPhone, row, &sealed),
            Err(CryptoError::WrongKey)
        );
        for garbage in ["13812345678", "v1:", "v1:!!!", "v1:AAAA", "v2:abc"] {
            assert_eq!(
                keys(1).open(SealedColumn::LoginPhone, row, garbage),
                Err(CryptoError::Malformed),
                "{garbage}"
            );
        }
    }

    #[test]
    fn blind_index_is_keyed_and_stable() {
        assert_eq!(
            keys(1).phone_index("13812345678"),
            keys(1).phone_index("13812345678")
        );
        assert_ne!(
            keys(1).phone_index("13812345678"),
            keys(2).phone_index("13812345678")
        );
        assert_ne!(
            keys(1).phone_index("13812345678"),
            keys(1).phone_index("13812345679")
        );
        assert_eq!(keys(1).phone_index("13812345678").len(), 64);
        assert_ne!(keys(1).fingerprint(), keys(2).fingerprint());
        assert!(!format!("{:?}", keys(1)).contains("cipher"));
    }
}
