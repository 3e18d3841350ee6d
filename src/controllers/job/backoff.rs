//! The delay before a Job replaces a failed pod, as upstream's pod failure backoff: 10 s
//! after the first failure since the last success, doubling with each further one up to
//! ten minutes, counted from when the last failed pod ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;

use crate::controllers::pods;

/// The delay after the first failure (upstream's `DefaultJobPodFailureBackOff`).
pub const BASE: Duration = Duration::from_secs(10);
/// The longest delay (upstream's `MaxJobPodFailureBackOff`).
pub const MAX: Duration = Duration::from_secs(600);

/// When a pod that ended did so: the last of its containers' finish times, else when it
/// was last seen changing condition.
fn ended_at(p: &Pod) -> Option<DateTime<Utc>> {
    let status = p.status.as_ref()?;
    let finished = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    finished.or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
            .max()
    })
}

/// The delay for `failures` failures in a row: 10 s, 20 s, 40 s, ... at most [`MAX`].
pub fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BASE.saturating_mul(1 << doublings).min(MAX)
}

/// How long new pods must still wait at `now`, given the Job's pods; `None` once they may
/// start.
pub fn remaining(pods: &[Arc<Pod>], now: DateTime<Utc>) -> Option<Duration> {
    let last_success = pods
        .iter()
        .filter(|p| pods::phase(p) == "Succeeded")
        .filter_map(|p| ended_at(p))
        .max();
    let failures: Vec<DateTime<Utc>> = pods
        .iter()
        .filter(|p| pods::phase(p) == "Failed")
        .filter_map(|p| ended_at(p))
        .filter(|t| last_success.map_or(true, |s| *t > s))
        .collect();
    let last = failures.iter().max()?;
    let n = u32::try_from(failures.len()).unwrap_or(u32::MAX);
    let due = *last + chrono::Duration::from_std(delay(n)).ok()?;
    (due > now).then(|| (due - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(phase: &str, finished: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"status": {"phase": phase, "containerStatuses": [
                {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 1, "finishedAt": finished}}}]}}))
            .unwrap(),
        )
    }

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn delays_double_from_ten_seconds_to_ten_minutes() {
        let got: Vec<u64> = [1, 2, 3, 6, 7, 40, u32::MAX]
            .iter()
            .map(|n| delay(*n).as_secs())
            .collect();
        assert_eq!(got, [10, 20, 40, 320, 600, 600, 600]);
    }

    #[test]
    fn counts_failures_since_the_last_success_from_the_last_failure() {
        let now = at("2026-01-01T00:00:15Z");
        assert_eq!(remaining(&[], now), None);
        let one = [pod("Failed", "2026-01-01T00:00:10Z")];
        assert_eq!(remaining(&one, now), Some(Duration::from_secs(5)));
        let two = [
            pod("Failed", "2026-01-01T00:00:00Z"),
            pod("Failed", "2026-01-01T00:00:10Z"),
        ];
        assert_eq!(remaining(&two, now), Some(Duration::from_secs(15)));
        // A success in between restarts the count.
        let reset = [
            pod("Failed", "2026-01-01T00:00:00Z"),
            pod("Succeeded", "2026-01-01T00:00:05Z"),
            pod("Failed", "2026-01-01T00:00:10Z"),
        ];
        assert_eq!(remaining(&reset, now), Some(Duration::from_secs(5)));
        let long_ago = [pod("Failed", "2025-12-31T00:00:00Z")];
        assert_eq!(remaining(&long_ago, now), None);
    }
}
