//! A controller's work queue, shared between the informer handlers that fill it and the
//! worker that drains it, as client-go's rate-limited work queue: a key waits at most once
//! (at the earliest time asked), and a key whose reconcile failed comes back after a delay
//! that doubles with each failure in a row, from 5 ms up to [`MAX_BACKOFF`], until it
//! succeeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::queue::{Key, Queue};

/// The first retry delay after a failure (client-go's `ItemExponentialFailureRateLimiter`).
const BASE_BACKOFF: Duration = Duration::from_millis(5);
/// The longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

struct State<K> {
    queue: Queue<K>,
    failures: HashMap<K, u32>,
}

/// Keys waiting to be reconciled. Cheap to clone; clones share the queue.
pub struct WorkQueue<K = Key> {
    state: Arc<Mutex<State<K>>>,
    wake: Arc<Notify>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            state: self.state.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<K> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: Queue::default(),
                failures: HashMap::new(),
            })),
            wake: Arc::new(Notify::new()),
        }
    }
}

impl<K: Ord + std::hash::Hash + Clone> WorkQueue<K> {
    // Nothing that holds this lock can panic without aborting the process
    // (`panic = "abort"`), so a poisoned lock is never seen; its data is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for `key` now.
    pub fn add(&self, key: K) {
        self.add_at(key, Instant::now());
    }

    /// Asks for `key` after `delay`.
    pub fn add_after(&self, key: K, delay: Duration) {
        self.add_at(key, Instant::now() + delay);
    }

    fn add_at(&self, key: K, at: Instant) {
        self.lock().queue.add(key, at);
        self.wake.notify_one();
    }

    /// Asks for `key` again after its reconcile failed, later with each failure in a row.
    pub fn add_rate_limited(&self, key: K) {
        let delay = {
            let mut state = self.lock();
            let n = state.failures.entry(key.clone()).or_insert(0);
            let delay = backoff(*n);
            *n = n.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
    }

    /// Forgets the failures of `key` (its reconcile succeeded).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Drops a waiting `key` and its failures (its object is gone).
    pub fn remove(&self, key: &K) {
        let mut state = self.lock();
        state.queue.remove(key);
        state.failures.remove(key);
    }

    /// The next key due, waiting for one.
    pub async fn next(&self) -> K {
        loop {
            let notified = self.wake.notified();
            let next_due = {
                let mut state = self.lock();
                if let Some(key) = state.queue.pop_due(Instant::now()) {
                    return key;
                }
                state.queue.next_due()
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// The delay before retry number `failures` (0 for the first).
fn backoff(failures: u32) -> Duration {
    BASE_BACKOFF
        .checked_mul(2u32.saturating_pow(failures.min(31)))
        .map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str) -> Key {
        (String::new(), name.to_string())
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_bound() {
        assert_eq!(backoff(0), Duration::from_millis(5));
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(10), Duration::from_millis(5120));
        assert_eq!(backoff(20), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_key_added_many_times_comes_once_and_failures_reset_on_success() {
        let q = WorkQueue::default();
        for _ in 0..3 {
            q.add(k("a"));
        }
        q.add(k("b"));
        assert_eq!(q.next().await, k("a"));
        assert_eq!(q.next().await, k("b"));
        q.add_rate_limited(k("a"));
        q.add_rate_limited(k("a"));
        assert_eq!(q.lock().failures[&k("a")], 2);
        assert_eq!(q.next().await, k("a"));
        q.forget(&k("a"));
        assert!(q.lock().failures.is_empty());
        // A key added while the worker waits wakes it.
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.next().await })
        };
        tokio::task::yield_now().await;
        q.add(k("c"));
        assert_eq!(waiter.await.unwrap(), k("c"));
    }
}
