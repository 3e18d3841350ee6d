//! Restart and image-pull back-off: when a failed container may start again.
//!
//! Mirrors client-go's `flowcontrol.Backoff` as the kubelet configures it (10 s initial,
//! doubling, capped at 5 min `MaxContainerBackOff`, no jitter) and the two places that use it:
//! `doBackOff` in kuberuntime (CrashLoopBackOff) and the image manager's pull back-off
//! (ImagePullBackOff). An entry resets once nothing failed for twice the cap (10 min), which is
//! the "ran 10 minutes without a problem" rule users read in the docs. Pure: every call takes
//! the current time, so tests drive the clock.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// First delay after a failure (`backOffPeriod` in the kubelet).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// Longest delay (`MaxContainerBackOff`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Waiting reason of a container whose restart is being delayed.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
/// Waiting reason of a container whose last image pull failed.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
/// Waiting reason of a container whose image pull is being delayed.
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: DateTime<Utc>,
}

/// Per-key exponential back-off (client-go `flowcontrol.Backoff`).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF)
    }
}

/// Time from `earlier` to `later`, zero when `later` is not after `earlier`.
fn elapsed(later: DateTime<Utc>, earlier: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

impl Backoff {
    /// A back-off starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// An entry is stale when nothing failed for twice the cap (upstream `hasExpired`).
    fn expired(&self, event_time: DateTime<Utc>, entry: &Entry) -> bool {
        elapsed(event_time, entry.last_update) > self.max * 2
    }

    /// The current delay for `key` (zero when it has none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Records a failure at `event_time`: first (or after a stable stretch) the initial delay,
    /// else double the previous one up to the cap.
    pub fn next(&mut self, key: &str, event_time: DateTime<Utc>, now: DateTime<Utc>) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(event_time, e) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// Whether less than the current delay has passed since `event_time` (upstream
    /// `IsInBackOffSince`, used with the container's finish time).
    pub fn is_in_backoff_since(
        &self,
        key: &str,
        event_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        match self.entries.get(key) {
            Some(e) if !self.expired(event_time, e) => elapsed(now, event_time) < e.backoff,
            _ => false,
        }
    }

    /// Whether less than the current delay has passed since the last failure was recorded
    /// (upstream `IsInBackOffSinceUpdate`, used for image pulls).
    pub fn is_in_backoff_since_update(&self, key: &str, now: DateTime<Utc>) -> bool {
        match self.entries.get(key) {
            Some(e) if !self.expired(now, e) => elapsed(now, e.last_update) < e.backoff,
            _ => false,
        }
    }

    /// Forgets `key` (the pod was deleted or its spec changed).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Drops entries that went stale, so deleted pods do not accumulate (upstream `GC`).
    pub fn gc(&mut self, now: DateTime<Utc>) {
        let limit = self.max * 2;
        self.entries
            .retain(|_, e| elapsed(now, e.last_update) <= limit);
    }
}

/// A duration the way Go's `time.Duration.String` prints whole seconds (`10s`, `1m20s`,
/// `5m0s`), as it appears in the CrashLoopBackOff message.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Whether an exited container is restarted under the pod's `restartPolicy`
/// (upstream `ShouldContainerBeRestarted` for an exited container). An empty or unknown
/// policy is `Always`, the API default.
pub fn should_restart(restart_policy: &str, exit_code: i32) -> bool {
    match restart_policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The back-off key of one container of one pod (upstream `getStableKey`): a changed spec
/// (`spec_hash`) starts a fresh back-off.
pub fn container_key(
    pod_name: &str,
    namespace: &str,
    uid: &str,
    container: &str,
    spec_hash: &str,
) -> String {
    format!("{pod_name}_{namespace}_{uid}_{container}_{spec_hash}")
}

/// The back-off key of one image for one pod (the image manager's `<uid>_<image>`).
pub fn image_key(uid: &str, image: &str) -> String {
    format!("{uid}_{image}")
}

/// A waiting reason and message for the container status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    /// `CrashLoopBackOff` or `ImagePullBackOff`.
    pub reason: &'static str,
    /// The message `kubectl describe` shows.
    pub message: String,
    /// How long the current delay is.
    pub backoff: Duration,
}

/// Decides whether an exited container may be started now (upstream `doBackOff`).
/// `Some` means wait, with the CrashLoopBackOff reason and message; `None` means start it,
/// and the failure has been recorded so the next one waits longer. `pod` is
/// `name_namespace(uid)`, as upstream's `format.Pod` prints it.
pub fn crash_loop(
    backoff: &mut Backoff,
    key: &str,
    container: &str,
    pod: &str,
    finished_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Delay> {
    if backoff.is_in_backoff_since(key, finished_at, now) {
        let delay = backoff.get(key);
        return Some(Delay {
            reason: CRASH_LOOP_BACK_OFF,
            message: format!(
                "back-off {} restarting failed container={container} pod={pod}",
                go_duration(delay)
            ),
            backoff: delay,
        });
    }
    backoff.next(key, finished_at, now);
    None
}

/// Whether a pull of `image` must wait (upstream image manager): `Some` with the
/// ImagePullBackOff reason and message while the delay runs.
pub fn image_pull_delay(
    backoff: &Backoff,
    key: &str,
    image: &str,
    now: DateTime<Utc>,
) -> Option<Delay> {
    backoff.is_in_backoff_since_update(key, now).then(|| Delay {
        reason: IMAGE_PULL_BACK_OFF,
        message: format!("Back-off pulling image {image:?}"),
        backoff: backoff.get(key),
    })
}

/// Records a failed pull of the image behind `key` at `now`.
pub fn image_pull_failed(backoff: &mut Backoff, key: &str, now: DateTime<Utc>) {
    backoff.next(key, now, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn crash_loop_doubles_to_five_minutes() {
        let mut b = Backoff::default();
        let key = container_key("p", "ns", "u1", "c", "h");
        let mut now = 0;
        // First exit: restart at once.
        assert_eq!(
            crash_loop(&mut b, &key, "c", "p_ns(u1)", t(now), t(now)),
            None
        );
        let mut seen = Vec::new();
        for _ in 0..8 {
            let finished = now + 1;
            let delay = crash_loop(&mut b, &key, "c", "p_ns(u1)", t(finished), t(finished))
                .expect("crashed again inside the delay");
            seen.push(delay.backoff.as_secs());
            // Still waiting one second before the delay ends, then free to start.
            let end = finished + delay.backoff.as_secs() as i64;
            assert!(crash_loop(&mut b, &key, "c", "p_ns(u1)", t(finished), t(end - 1)).is_some());
            assert_eq!(
                crash_loop(&mut b, &key, "c", "p_ns(u1)", t(finished), t(end)),
                None
            );
            now = end;
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn crash_loop_message_matches_kubelet() {
        let mut b = Backoff::default();
        crash_loop(&mut b, "k", "c", "p_ns(u)", t(0), t(0));
        for _ in 0..3 {
            b.next("k", t(1), t(1));
        }
        let d = crash_loop(&mut b, "k", "web", "nginx_default(u)", t(1), t(2)).unwrap();
        assert_eq!(d.reason, "CrashLoopBackOff");
        assert_eq!(
            d.message,
            "back-off 1m20s restarting failed container=web pod=nginx_default(u)"
        );
    }

    #[test]
    fn backoff_resets_after_ten_stable_minutes() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.next("k", t(0), t(0));
        }
        assert_eq!(b.get("k"), Duration::from_secs(160));
        // Ran for exactly ten minutes: still counts as the same crash loop.
        b.next("k", t(600), t(600));
        assert_eq!(b.get("k"), Duration::from_secs(300));
        // Then ran longer than ten minutes: back to the initial delay.
        b.next("k", t(1201), t(1201));
        assert_eq!(b.get("k"), Duration::from_secs(10));
        assert!(!b.is_in_backoff_since("other", t(0), t(0)));
        b.gc(t(5000));
        assert_eq!(b.get("k"), Duration::ZERO);
    }

    #[test]
    fn should_restart_follows_restart_policy() {
        let table = [
            ("Always", 0, true),
            ("Always", 1, true),
            ("", 0, true),
            ("OnFailure", 0, false),
            ("OnFailure", 137, true),
            ("Never", 0, false),
            ("Never", 1, false),
        ];
        for (policy, code, want) in table {
            assert_eq!(should_restart(policy, code), want, "{policy} exit {code}");
        }
    }

    #[test]
    fn image_pull_backoff_has_the_same_shape() {
        let mut b = Backoff::default();
        let key = image_key("u1", "busybox:1");
        assert_eq!(image_pull_delay(&b, &key, "busybox:1", t(0)), None);
        image_pull_failed(&mut b, &key, t(0));
        let d = image_pull_delay(&b, &key, "busybox:1", t(5)).unwrap();
        assert_eq!(d.reason, "ImagePullBackOff");
        assert_eq!(d.message, "Back-off pulling image \"busybox:1\"");
        assert_eq!(image_pull_delay(&b, &key, "busybox:1", t(10)), None);
        image_pull_failed(&mut b, &key, t(10));
        assert_eq!(b.get(&key), Duration::from_secs(20));
        assert!(image_pull_delay(&b, &key, "busybox:1", t(29)).is_some());
        assert_eq!(image_pull_delay(&b, &key, "busybox:1", t(30)), None);
    }

    #[test]
    fn go_duration_formats_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
