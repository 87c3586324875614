//! Argon2id password hashes, computed off the async threads, at most one per
//! core at a time.

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use prometheus::{IntCounterVec, Opts};
use rand::RngCore;
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Argon2 runs that may be under way at once: one per core. A login flood
/// waits here rather than taking every thread of the blocking pool (which
/// the database driver and file work need too) or every core.
fn hashing_permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(hashing_concurrency())))
}

pub fn hashing_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(2)
}

/// Runs argon2 work on the blocking pool once a permit is free. The permit
/// goes with the work: a caller that gives up (a client that disconnects)
/// does not free it before the hash is done.
async fn run_limited<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let permit = hashing_permits().clone().acquire_owned().await?;
    let done = tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await?;
    Ok(done)
}

pub async fn hash_password(password: String) -> anyhow::Result<String> {
    run_limited(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Checks passwords and counts each check, by what it was checked against:
/// `account` (an account's own hash: a guess that could succeed) or `dummy`
/// (no account, no password, or a locked account: spent only so that the
/// answer takes as long). Exported as `linli_password_verifications_total`.
#[derive(Clone)]
pub struct Passwords {
    verifications: IntCounterVec,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let verifications = IntCounterVec::new(
            Opts::new(
                "password_verifications_total",
                "Argon2 password verifications, by what the password was checked against",
            ),
            &["against"],
        )?;
        Ok(Passwords { verifications })
    }

    /// The counter, for the metrics registry.
    pub fn verifications(&self) -> IntCounterVec {
        self.verifications.clone()
    }

    /// Whether `password` matches `hash`. Without a hash (no such user, no
    /// password set, a locked account) it still spends the time of one
    /// verification, so the answer does not tell which phone numbers have
    /// accounts, nor which are locked.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let counter = self.verifications.with_label_values(&[if hash.is_some() {
            "account"
        } else {
            "dummy"
        }]);
        run_limited(move || {
            counter.inc();
            verify_blocking(&password, hash.as_deref())
        })
        .await
        .unwrap_or(false)
    }

    /// Spends the time of one verification and answers no.
    pub async fn spend_dummy(&self, password: String) {
        self.verify(password, None).await;
    }
}

fn verify_blocking(password: &str, hash: Option<&str>) -> bool {
    let target = hash.unwrap_or_else(|| dummy_hash());
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && hash.is_some()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("linli-dummy-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() -> anyhow::Result<()> {
        let passwords = Passwords::new()?;
        let a = hash_password("correct horse".into()).await?;
        let b = hash_password("correct horse".into()).await?;
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(
            passwords
                .verify("correct horse".into(), Some(a.clone()))
                .await
        );
        assert!(!passwords.verify("wrong horse".into(), Some(a)).await);
        assert!(!passwords.verify("linli-dummy-password".into(), None).await);
        let counted = |against: &str| passwords.verifications.with_label_values(&[against]).get();
        assert_eq!((counted("account"), counted("dummy")), (2, 1));
        Ok(())
    }

    /// Four times as many verifications as cores, started at once: no more
    /// than one per core runs argon2 at any moment (the blocking pool alone
    /// would run them all together).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn argon2_runs_at_most_one_per_core_at_once() -> anyhow::Result<()> {
        let hash = hash_password("correct horse".into()).await?;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..hashing_concurrency() * 4)
            .map(|_| {
                let (running, most, hash) = (running.clone(), most.clone(), hash.clone());
                tokio::spawn(run_limited(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let matches = verify_blocking("wrong horse", Some(&hash));
                    running.fetch_sub(1, Ordering::SeqCst);
                    matches
                }))
            })
            .collect();
        for task in tasks {
            assert!(!task.await??);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=hashing_concurrency()).contains(&most),
            "{most} argon2 runs at once with {} cores",
            hashing_concurrency()
        );
        Ok(())
    }
}
