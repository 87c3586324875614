//! Which token holders were recently seen live (the user exists and has not
//! erased their account), so that a client sending many requests costs one
//! lookup every few seconds instead of one per request.
//!
//! An erasure on this process forgets the user at once; on another replica
//! the erased user's tokens stop working at most [`RECHECK_AFTER`] later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How long a positive check is trusted.
pub const RECHECK_AFTER: Duration = Duration::from_secs(5);
/// Past this many entries the stale ones are dropped (bounded memory).
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Debug, Default)]
pub struct LiveSessions {
    checked: Arc<Mutex<HashMap<Uuid, Instant>>>,
}

impl LiveSessions {
    /// Whether `user_id` was found live less than [`RECHECK_AFTER`] ago.
    pub fn recently_live(&self, user_id: Uuid, now: Instant) -> bool {
        let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked
            .get(&user_id)
            .is_some_and(|at| now.saturating_duration_since(*at) < RECHECK_AFTER)
    }

    pub fn mark_live(&self, user_id: Uuid, now: Instant) {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.len() >= MAX_ENTRIES {
            checked.retain(|_, at| now.saturating_duration_since(*at) < RECHECK_AFTER);
            if checked.len() >= MAX_ENTRIES {
                checked.clear();
            }
        }
        checked.insert(user_id, now);
    }

    /// The user erased their account (or was removed): check again next time.
    pub fn forget(&self, user_id: Uuid) {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.remove(&user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_trusted_for_a_few_seconds_and_forgotten_on_erasure() {
        let sessions = LiveSessions::default();
        let user = Uuid::now_v7();
        let t0 = Instant::now();
        assert!(!sessions.recently_live(user, t0));
        sessions.mark_live(user, t0);
        assert!(sessions.recently_live(user, t0 + Duration::from_secs(1)));
        assert!(!sessions.recently_live(user, t0 + RECHECK_AFTER));
        sessions.forget(user);
        assert!(!sessions.recently_live(user, t0));
    }

    #[test]
    fn memory_stays_bounded() {
        let sessions = LiveSessions::default();
        let t0 = Instant::now();
        for _ in 0..MAX_ENTRIES {
            sessions.mark_live(Uuid::now_v7(), t0);
        }
        let later = t0 + RECHECK_AFTER;
        sessions.mark_live(Uuid::now_v7(), later);
        let len = sessions.checked.lock().map(|c| c.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }
}
