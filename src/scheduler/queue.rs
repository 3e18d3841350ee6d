//! The pods waiting for a decision, kept as upstream's `PriorityQueue` keeps them (without
//! priority order): an *active* FIFO of pods to try now; an *unschedulable* set of pods that
//! fit nowhere, moved back to active when a change in the cluster could let them fit (a node
//! added or changed, a pod gone) or once they have waited [`UNSCHEDULABLE_MAX_WAIT`]; and a
//! *backoff* set of pods whose binding failed, each waiting 1s, 2s, 4s… up to
//! [`MAX_BACKOFF`] before it is tried again. A pod is in at most one of them; while it is
//! being decided on it is in none, and a move that happens meanwhile sends it straight back
//! to active rather than to the unschedulable set, so the move is not missed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::snapshot::PodKey;

/// First wait after a failed binding (upstream's `podInitialBackoffSeconds`).
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait after failed bindings (upstream's `podMaxBackoffSeconds`).
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest stay in the unschedulable set without a cluster change that moves it. Upstream
/// waits 5 minutes; claims and volumes are read when a pod is tried rather than watched,
/// so a pod waiting for storage relies on this retry.
pub(crate) const UNSCHEDULABLE_MAX_WAIT: Duration = Duration::from_secs(10);

/// The scheduling queue.
#[derive(Debug, Default)]
pub(crate) struct SchedulingQueue {
    active: VecDeque<PodKey>,
    in_active: HashSet<PodKey>,
    /// Pods after a failed binding, with when they may be tried again.
    backoff: HashMap<PodKey, Instant>,
    /// Failed bindings so far, by pod.
    attempts: HashMap<PodKey, u32>,
    /// Pods that fit nowhere, with when they were put there.
    unschedulable: HashMap<PodKey, Instant>,
    /// Pods being decided on, with the move count when they were taken.
    in_flight: HashMap<PodKey, u64>,
    /// How many times unschedulable pods were moved back (upstream's `moveRequestCycle`).
    moves: u64,
}

impl SchedulingQueue {
    /// Queues a pod to try, unless it is queued already or being decided on.
    pub(crate) fn add(&mut self, key: PodKey) {
        if self.in_active.contains(&key)
            || self.backoff.contains_key(&key)
            || self.unschedulable.contains_key(&key)
            || self.in_flight.contains_key(&key)
        {
            return;
        }
        self.push_active(key);
    }

    fn push_active(&mut self, key: PodKey) {
        if self.in_active.insert(key.clone()) {
            self.active.push_back(key);
        }
    }

    /// The next pod to try; it counts as being decided on until [`SchedulingQueue::done`],
    /// [`SchedulingQueue::unschedulable`] or [`SchedulingQueue::backoff`].
    pub(crate) fn pop(&mut self) -> Option<PodKey> {
        let key = self.active.pop_front()?;
        self.in_active.remove(&key);
        self.in_flight.insert(key.clone(), self.moves);
        Some(key)
    }

    /// The pod was placed, or no longer needs a decision.
    pub(crate) fn done(&mut self, key: &PodKey) {
        self.in_flight.remove(key);
        self.attempts.remove(key);
    }

    /// The pod fits nowhere: park it until a change could help.
    pub(crate) fn unschedulable(&mut self, key: PodKey, now: Instant) {
        let taken_at = self.in_flight.remove(&key);
        if taken_at.is_some_and(|m| m < self.moves) {
            // The cluster changed while it was being decided on.
            self.push_active(key);
        } else {
            self.unschedulable.insert(key, now);
        }
    }

    /// The pod's binding failed: try it again after its backoff.
    pub(crate) fn backoff(&mut self, key: PodKey, now: Instant) {
        self.in_flight.remove(&key);
        self.in_active.remove(&key);
        self.active.retain(|k| *k != key);
        self.unschedulable.remove(&key);
        let attempts = self.attempts.entry(key.clone()).or_default();
        *attempts = attempts.saturating_add(1);
        let wait = INITIAL_BACKOFF
            .saturating_mul(1u32 << (*attempts - 1).min(16))
            .min(MAX_BACKOFF);
        self.backoff.insert(key, now + wait);
    }

    /// Forgets a pod that went away or no longer waits for this scheduler.
    pub(crate) fn delete(&mut self, key: &PodKey) {
        if self.in_active.remove(key) {
            self.active.retain(|k| k != key);
        }
        self.backoff.remove(key);
        self.attempts.remove(key);
        self.unschedulable.remove(key);
        self.in_flight.remove(key);
    }

    /// A change that could let any waiting pod fit: every unschedulable pod goes back to
    /// active (upstream's `MoveAllToActiveOrBackoffQueue`).
    pub(crate) fn move_all(&mut self) {
        self.moves = self.moves.saturating_add(1);
        let parked: Vec<PodKey> = self.unschedulable.drain().map(|(k, _)| k).collect();
        for key in parked {
            self.push_active(key);
        }
    }

    /// A change to one unschedulable pod itself (its spec or labels): try it again.
    pub(crate) fn move_one(&mut self, key: &PodKey) {
        if self.unschedulable.remove(key).is_some() {
            self.push_active(key.clone());
        }
    }

    /// Moves pods whose backoff is over, and pods unschedulable for too long, to active.
    pub(crate) fn flush(&mut self, now: Instant) {
        let ready: Vec<PodKey> = self
            .backoff
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let stale: Vec<PodKey> = self
            .unschedulable
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= UNSCHEDULABLE_MAX_WAIT)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ready {
            self.backoff.remove(&key);
            self.push_active(key);
        }
        for key in stale {
            self.unschedulable.remove(&key);
            self.push_active(key);
        }
    }

    /// Whether a pod waits in the active queue.
    #[cfg(test)]
    pub(crate) fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// How many pods wait unschedulable.
    #[cfg(test)]
    pub(crate) fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PodKey {
        ("default".into(), name.into())
    }

    #[test]
    fn fifo_without_duplicates() {
        let mut q = SchedulingQueue::default();
        q.add(key("a"));
        q.add(key("b"));
        q.add(key("a"));
        assert_eq!(q.pop(), Some(key("a")));
        // Being decided on: a second add waits for the outcome.
        q.add(key("a"));
        assert_eq!(q.pop(), Some(key("b")));
        assert_eq!(q.pop(), None);
        q.done(&key("a"));
        q.add(key("a"));
        assert_eq!(q.pop(), Some(key("a")));
    }

    #[test]
    fn unschedulable_pods_come_back_when_a_node_is_added() {
        let now = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(key("a"));
        q.add(key("b"));
        for _ in 0..2 {
            let k = q.pop().unwrap();
            q.unschedulable(k, now);
        }
        assert_eq!(q.unschedulable_len(), 2);
        // Nothing changed: they stay parked, and adding them again does not wake them.
        q.add(key("a"));
        q.flush(now + Duration::from_secs(1));
        assert!(!q.has_active());

        q.move_all();
        assert_eq!(q.unschedulable_len(), 0);
        // Both come back (in no particular order, as upstream's move of a map).
        let mut back = [q.pop(), q.pop()];
        back.sort();
        assert_eq!(back, [Some(key("a")), Some(key("b"))]);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_move_during_a_decision_is_not_lost() {
        let now = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(key("a"));
        let k = q.pop().unwrap();
        q.move_all();
        q.unschedulable(k, now);
        assert_eq!(q.pop(), Some(key("a")));
    }

    #[test]
    fn parked_pods_are_retried_after_the_longest_wait() {
        let now = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(key("a"));
        let k = q.pop().unwrap();
        q.unschedulable(k, now);
        q.flush(now + UNSCHEDULABLE_MAX_WAIT);
        assert_eq!(q.pop(), Some(key("a")));
    }

    #[test]
    fn failed_bindings_back_off_longer_each_time() {
        let now = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(key("a"));
        let k = q.pop().unwrap();
        q.backoff(k, now);
        q.flush(now + Duration::from_millis(500));
        assert!(!q.has_active());
        q.flush(now + INITIAL_BACKOFF);
        let k = q.pop().unwrap();
        q.backoff(k, now);
        q.flush(now + INITIAL_BACKOFF);
        assert!(!q.has_active(), "the second wait is longer");
        q.flush(now + 2 * INITIAL_BACKOFF);
        assert_eq!(q.pop(), Some(key("a")));
        q.delete(&key("a"));
        q.flush(now + MAX_BACKOFF);
        assert!(!q.has_active());
    }
}
