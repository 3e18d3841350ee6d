//! Upstream's `EventSourceObjectSpamFilter`: each (component, object) pair has a bucket of
//! 25 events that refills one event every five minutes; an event finding its bucket empty
//! is dropped. The buckets are forgotten once full again, so the filter stays small.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Events one object may get at once.
pub const BURST: f64 = 25.0;
/// One event comes back this often.
pub const REFILL: Duration = Duration::from_secs(300);
/// Buckets kept before full ones are forgotten (upstream's LRU holds 4,096).
const KEEP: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets.
#[derive(Debug, Default)]
pub struct Filter {
    buckets: HashMap<String, Bucket>,
}

fn refilled(b: Bucket, now: Instant) -> f64 {
    let gained = now.saturating_duration_since(b.at).as_secs_f64() / REFILL.as_secs_f64();
    (b.tokens + gained).min(BURST)
}

impl Filter {
    /// Whether an event about `key` may be written at `now`; takes a token if so.
    pub fn allow(&mut self, key: &str, now: Instant) -> bool {
        if self.buckets.len() >= KEEP && !self.buckets.contains_key(key) {
            self.buckets.retain(|_, b| refilled(*b, now) < BURST);
            if self.buckets.len() >= KEEP {
                // Every bucket is in use: forgetting them all errs on letting events in.
                self.buckets.clear();
            }
        }
        let bucket = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        let tokens = refilled(*bucket, now);
        let allowed = tokens >= 1.0;
        *bucket = Bucket {
            tokens: if allowed { tokens - 1.0 } else { tokens },
            at: now,
        };
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_25_then_one_every_five_minutes() {
        let mut f = Filter::default();
        let t0 = Instant::now();
        let allowed = (0..40).filter(|_| f.allow("rs/web", t0)).count();
        assert_eq!(allowed, 25);
        // Another object has a bucket of its own.
        assert!(f.allow("rs/api", t0));
        assert!(!f.allow("rs/web", t0 + REFILL / 2));
        assert!(f.allow("rs/web", t0 + REFILL + Duration::from_secs(1)));
        assert!(!f.allow("rs/web", t0 + REFILL + Duration::from_secs(2)));
    }

    #[test]
    fn many_objects_keep_the_filter_bounded() {
        let mut f = Filter::default();
        let t0 = Instant::now();
        for i in 0..3 * KEEP {
            assert!(f.allow(&format!("pod/{i}"), t0));
        }
        assert!(f.buckets.len() <= KEEP);
    }
}
