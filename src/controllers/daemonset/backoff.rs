//! How soon a failed daemon pod on a node is replaced again, as upstream's
//! `failedPodsBackoff` (client-go's `flowcontrol.Backoff`, 1 s doubling to 15 min): a pod
//! that keeps failing on a node is not deleted and recreated in a tight loop. An entry
//! untouched for twice the maximum starts again from the initial delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The first delay.
pub const INITIAL: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

/// Delays by key (`<namespace>/<set>/<node>`). Cheap to clone; clones share them.
#[derive(Clone, Default)]
pub struct FailedPodBackoff {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl FailedPodBackoff {
    // Nothing that holds this lock can panic without aborting the process, so a poisoned
    // lock is never seen; its data is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key of a set's pods on one node.
    pub fn key(namespace: &str, set: &str, node: &str) -> String {
        format!("{namespace}/{set}/{node}")
    }

    /// Whether `key` is still waiting at `now` since its last step (upstream's
    /// `IsInBackOffSinceUpdate`).
    pub fn waiting(&self, key: &str, now: Instant) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|e| now.saturating_duration_since(e.last_update) < e.delay)
    }

    /// The current delay of `key` (zero when it has none).
    pub fn delay(&self, key: &str) -> Duration {
        self.lock().get(key).map_or(Duration::ZERO, |e| e.delay)
    }

    /// Steps `key`: the initial delay the first time (or after a long quiet), else double.
    pub fn step(&self, key: &str, now: Instant) {
        let mut entries = self.lock();
        let delay = match entries.get(key) {
            Some(e) if now.saturating_duration_since(e.last_update) <= MAX * 2 => {
                e.delay.saturating_mul(2).min(MAX)
            }
            _ => INITIAL,
        };
        entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: now,
            },
        );
    }

    /// Drops the entries of a set that is gone.
    pub fn forget_set(&self, namespace: &str, set: &str) {
        let prefix = format!("{namespace}/{set}/");
        self.lock().retain(|k, _| !k.starts_with(&prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_reset_after_a_quiet_spell() {
        let b = FailedPodBackoff::default();
        let k = FailedPodBackoff::key("ns", "agent", "n1");
        let t0 = Instant::now();
        assert!(!b.waiting(&k, t0));
        b.step(&k, t0);
        assert_eq!(b.delay(&k), INITIAL);
        assert!(b.waiting(&k, t0 + Duration::from_millis(500)));
        assert!(!b.waiting(&k, t0 + Duration::from_secs(1)));
        b.step(&k, t0 + Duration::from_secs(1));
        assert_eq!(b.delay(&k), Duration::from_secs(2));
        for i in 2..20 {
            b.step(&k, t0 + Duration::from_secs(i));
        }
        assert_eq!(b.delay(&k), MAX);
        b.step(&k, t0 + Duration::from_secs(20) + MAX * 3);
        assert_eq!(b.delay(&k), INITIAL);
        b.forget_set("ns", "agent");
        assert_eq!(b.delay(&k), Duration::ZERO);
    }
}
