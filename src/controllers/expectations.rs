//! What a controller is still waiting to see after its own creates and deletes, as
//! upstream's `ControllerExpectations`: a ReplicaSet that just asked for five pods must not
//! count its pods again (and ask for five more) before the informer has brought those five.
//! An expectation older than [`EXPECTATION_TTL`] is given up, so a lost event cannot wedge
//! a controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::client::informer::Key;

/// How long an unmet expectation holds (upstream's `ExpectationsTimeout`).
pub const EXPECTATION_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Pending {
    adds: i64,
    deletes: i64,
    set_at: Instant,
}

/// Expectations by controller key. Cheap to clone; clones share them.
#[derive(Clone, Default)]
pub struct Expectations {
    by_key: Arc<Mutex<HashMap<Key, Pending>>>,
}

impl Expectations {
    // Nothing that holds this lock can panic without aborting the process, so a poisoned
    // lock is never seen; its data is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.by_key.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Expects `adds` creations and `deletes` deletions for `key`.
    pub fn expect(&self, key: &Key, adds: usize, deletes: usize) {
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.lock().insert(
            key.clone(),
            Pending {
                adds: to_i64(adds),
                deletes: to_i64(deletes),
                set_at: Instant::now(),
            },
        );
    }

    /// One expected creation was seen (or will never come: its create failed).
    pub fn creation_observed(&self, key: &Key) {
        if let Some(p) = self.lock().get_mut(key) {
            p.adds = p.adds.saturating_sub(1);
        }
    }

    /// One expected deletion was seen (or will never come).
    pub fn deletion_observed(&self, key: &Key) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes = p.deletes.saturating_sub(1);
        }
    }

    /// Whether everything expected for `key` has been seen (or given up on).
    pub fn satisfied(&self, key: &Key) -> bool {
        self.lock().get(key).map_or(true, |p| {
            (p.adds <= 0 && p.deletes <= 0) || p.set_at.elapsed() > EXPECTATION_TTL
        })
    }

    /// Drops what was expected for `key` (its controller object is gone).
    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_every_expected_change_is_seen() {
        let e = Expectations::default();
        let k: Key = ("ns".into(), "web".into());
        assert!(e.satisfied(&k));
        e.expect(&k, 2, 1);
        e.creation_observed(&k);
        e.deletion_observed(&k);
        assert!(!e.satisfied(&k));
        e.creation_observed(&k);
        assert!(e.satisfied(&k));
        e.expect(&k, 1, 0);
        e.forget(&k);
        assert!(e.satisfied(&k));
    }
}
