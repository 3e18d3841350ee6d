//! The sample history of one container, pod or node: a fixed-capacity ring of the last
//! [`HISTORY`] samples (`heapless::HistoryBuffer`), so memory does not grow with uptime or
//! with how often the endpoints are scraped. The CPU rate (`usageNanoCores`) is computed
//! from the two latest samples, as cAdvisor does from its in-memory history.

use heapless::HistoryBuffer;

/// Samples kept per container, pod and node: at the default 10 s period, the last 80 s.
pub const HISTORY: usize = 8;

/// A sample stamped with the wall-clock time it was taken.
pub trait Timed {
    /// When the sample was taken, in milliseconds since the epoch.
    fn time_ms(&self) -> i64;
    /// Cumulative CPU time in nanoseconds, when the sample has one.
    fn cpu_ns(&self) -> u64;
}

/// The last [`HISTORY`] samples of one thing.
#[derive(Debug)]
pub struct History<T> {
    ring: HistoryBuffer<T, HISTORY>,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self {
            ring: HistoryBuffer::new(),
        }
    }
}

impl<T: Timed> History<T> {
    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, sample: T) {
        self.ring.write(sample);
    }

    /// Samples held (at most [`HISTORY`]).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether nothing was sampled yet.
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// The latest sample.
    pub fn latest(&self) -> Option<&T> {
        self.ring.recent()
    }

    /// The sample before the latest.
    pub fn previous(&self) -> Option<&T> {
        let n = self.ring.len();
        self.ring.oldest_ordered().nth(n.checked_sub(2)?)
    }

    /// CPU use between the two latest samples, in nanocores (core-nanoseconds per second);
    /// `None` with fewer than two samples, no time between them, or a counter that went back
    /// (the cgroup was recreated).
    pub fn nano_cores(&self) -> Option<u64> {
        let (new, old) = (self.latest()?, self.previous()?);
        let elapsed_ms = u128::try_from(new.time_ms().checked_sub(old.time_ms())?).ok()?;
        if elapsed_ms == 0 {
            return None;
        }
        let used = u128::from(new.cpu_ns().checked_sub(old.cpu_ns())?);
        u64::try_from(used * 1000 / elapsed_ms).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct S(i64, u64);
    impl Timed for S {
        fn time_ms(&self) -> i64 {
            self.0
        }
        fn cpu_ns(&self) -> u64 {
            self.1
        }
    }

    #[test]
    fn holds_at_most_history_samples_however_many_are_pushed() {
        let mut h = History::default();
        assert!(h.is_empty() && h.nano_cores().is_none());
        for i in 0..10_000u64 {
            h.push(S(i as i64 * 10_000, i * 5_000_000_000));
            assert!(h.len() <= HISTORY);
        }
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h.latest(), Some(&S(99_990_000, 9_999 * 5_000_000_000)));
        assert_eq!(h.previous(), Some(&S(99_980_000, 9_998 * 5_000_000_000)));
        // 5 s of CPU in 10 s: half a core
        assert_eq!(h.nano_cores(), Some(500_000_000));
        // the ring itself is the only storage: its size does not depend on what was pushed
        assert_eq!(
            std::mem::size_of::<History<S>>(),
            std::mem::size_of::<heapless::HistoryBuffer<S, HISTORY>>()
        );
    }

    #[test]
    fn no_rate_across_a_counter_reset_or_without_elapsed_time() {
        let mut h = History::default();
        h.push(S(1_000, 900));
        h.push(S(2_000, 100));
        assert_eq!(h.nano_cores(), None);
        h.push(S(2_000, 200));
        assert_eq!(h.nano_cores(), None);
    }
}
