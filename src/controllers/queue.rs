//! The controllers' work queue, as client-go's delaying queue: object keys waiting to be
//! reconciled, each at most once, at the earliest time anyone asked for it.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// An object's namespace (empty for cluster-scoped kinds) and name.
pub type Key = (String, String);

/// Keys by the time they are due.
#[derive(Debug)]
pub struct Queue<K = Key> {
    by_time: BTreeSet<(Instant, K)>,
    due: HashMap<K, Instant>,
}

impl<K> Default for Queue<K> {
    fn default() -> Self {
        Queue {
            by_time: BTreeSet::new(),
            due: HashMap::new(),
        }
    }
}

impl<K: Ord + std::hash::Hash + Clone> Queue<K> {
    /// Asks for `key` at `at`, or keeps an earlier request for it.
    pub fn add(&mut self, key: K, at: Instant) {
        match self.due.get(&key) {
            Some(&old) if old <= at => {}
            Some(&old) => {
                self.by_time.remove(&(old, key.clone()));
                self.by_time.insert((at, key.clone()));
                self.due.insert(key, at);
            }
            None => {
                self.by_time.insert((at, key.clone()));
                self.due.insert(key, at);
            }
        }
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        if let Some(at) = self.due.remove(key) {
            self.by_time.remove(&(at, key.clone()));
        }
    }

    /// Takes the earliest key due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let first = self.by_time.first()?;
        if first.0 > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.due.remove(&key);
        Some(key)
    }

    /// When the next key is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn k(name: &str) -> Key {
        (String::new(), name.to_string())
    }

    #[test]
    fn keys_come_once_at_their_earliest_time() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = Queue::default();
        q.add(k("b"), t0 + s);
        q.add(k("a"), t0 + 2 * s);
        q.add(k("a"), t0);
        q.add(k("b"), t0 + 3 * s);
        assert_eq!(q.due.len(), 2);
        assert_eq!(q.next_due(), Some(t0));
        assert_eq!(q.pop_due(t0), Some(k("a")));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(q.pop_due(t0 + s), Some(k("b")));
        assert!(q.due.is_empty() && q.by_time.is_empty());
    }

    #[test]
    fn removed_keys_are_forgotten() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add(k("a"), t0);
        q.add(k("b"), t0);
        q.add(k("c"), t0);
        q.remove(&k("a"));
        q.remove(&k("b"));
        assert_eq!(q.pop_due(t0), Some(k("c")));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(q.next_due(), None);
    }
}
