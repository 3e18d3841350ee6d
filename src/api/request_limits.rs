//! Per-request limits of the API server, as kube-apiserver's generic filters apply them:
//! `--max-requests-inflight` / `--max-mutating-requests-inflight` (`WithMaxInFlightLimit`:
//! 429 `TooManyRequests` with `Retry-After: 1`, `system:masters` exempt) and
//! `--request-timeout` (`WithTimeoutForNonLongRunningRequests`: 504 `Timeout`). Long-running
//! requests (watches, `proxy`, and the `attach`, `exec`, `portforward`, `proxy` and `log`
//! subresources, upstream's `BasicLongRunningRequestCheck`) are exempt from both: they hold
//! their connection by design and are bounded by the connection limits instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::{Identity, MASTERS_GROUP};
use super::request_info::{RequestInfo, Target};
use super::status::ApiError;

/// kube-apiserver's `--request-timeout` default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// kube-apiserver's `--max-requests-inflight` default. A Pi serves a read in a few ms, so 400
/// concurrent reads are seconds of work queued, not minutes.
pub const MAX_REQUESTS_INFLIGHT: usize = 400;
/// kube-apiserver's `--max-mutating-requests-inflight` default; writes fsync the store, so
/// fewer of them may queue.
pub const MAX_MUTATING_REQUESTS_INFLIGHT: usize = 200;

/// Verbs that never end on their own.
const LONG_RUNNING_VERBS: [&str; 2] = ["watch", "proxy"];
/// Subresources that stream for as long as the client wants.
const LONG_RUNNING_SUBRESOURCES: [&str; 5] = ["attach", "exec", "portforward", "proxy", "log"];
/// Verbs that read; every other resource verb (and every non-GET non-resource request)
/// counts against the mutating limit, as upstream's `nonMutatingRequestVerbs`.
const READ_VERBS: [&str; 4] = ["get", "list", "watch", "head"];

/// The settings (0 disables an in-flight limit, as upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimitSettings {
    /// Longest a non-long-running request may take.
    pub request_timeout: Duration,
    /// Read requests in flight at once.
    pub max_requests_inflight: usize,
    /// Mutating requests in flight at once.
    pub max_mutating_requests_inflight: usize,
}

impl Default for RequestLimitSettings {
    fn default() -> Self {
        RequestLimitSettings {
            request_timeout: REQUEST_TIMEOUT,
            max_requests_inflight: MAX_REQUESTS_INFLIGHT,
            max_mutating_requests_inflight: MAX_MUTATING_REQUESTS_INFLIGHT,
        }
    }
}

/// The in-flight counters and the timeout.
#[derive(Debug)]
pub struct RequestLimits {
    /// Longest a non-long-running request may take.
    pub request_timeout: Duration,
    reads: Option<Arc<Semaphore>>,
    mutations: Option<Arc<Semaphore>>,
}

/// A request's place among those in flight (none for exempt requests); dropping it frees it.
#[derive(Debug)]
pub struct InFlight(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl RequestLimits {
    /// Limits from `settings`.
    pub fn new(settings: RequestLimitSettings) -> Self {
        let semaphore = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        RequestLimits {
            request_timeout: settings.request_timeout,
            reads: semaphore(settings.max_requests_inflight),
            mutations: semaphore(settings.max_mutating_requests_inflight),
        }
    }

    /// Takes a place for a request that is not long-running, or answers 429.
    pub fn admit(&self, info: &RequestInfo, who: &Identity) -> Result<InFlight, ApiError> {
        if who.in_group(MASTERS_GROUP) {
            return Ok(InFlight(None));
        }
        let pool = if is_read(info) {
            &self.reads
        } else {
            &self.mutations
        };
        match pool {
            None => Ok(InFlight(None)),
            Some(s) => s
                .clone()
                .try_acquire_owned()
                .map(|p| InFlight(Some(p)))
                .map_err(|_| ApiError::too_many_requests()),
        }
    }
}

/// Whether `info` only reads (it then takes a read-only in-flight place).
pub fn is_read(info: &RequestInfo) -> bool {
    READ_VERBS.contains(&info.verb)
}

/// Whether upstream counts `info` as long-running (no timeout, no in-flight place).
pub fn long_running(info: &RequestInfo) -> bool {
    if LONG_RUNNING_VERBS.contains(&info.verb) {
        return true;
    }
    match &info.target {
        Target::Resource(rp) => rp
            .subresource
            .as_deref()
            .is_some_and(|s| LONG_RUNNING_SUBRESOURCES.contains(&s)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request_info;
    use http::Method;

    fn info(method: Method, path: &str, watch: bool) -> RequestInfo {
        request_info::parse(&method, path, watch)
    }

    #[test]
    fn watches_and_streams_are_long_running() {
        assert!(long_running(&info(Method::GET, "/api/v1/pods", true)));
        for sub in ["log", "exec", "attach", "portforward"] {
            let path = format!("/api/v1/namespaces/d/pods/p/{sub}");
            assert!(long_running(&info(Method::GET, &path, false)), "{sub}");
        }
        assert!(!long_running(&info(Method::GET, "/api/v1/pods", false)));
        assert!(!long_running(&info(
            Method::POST,
            "/api/v1/namespaces/d/configmaps",
            false
        )));
        assert!(!long_running(&info(Method::GET, "/version", false)));
    }

    #[test]
    fn reads_and_writes_have_separate_limits_and_masters_are_exempt() {
        let limits = RequestLimits::new(RequestLimitSettings {
            request_timeout: REQUEST_TIMEOUT,
            max_requests_inflight: 1,
            max_mutating_requests_inflight: 1,
        });
        let alice = Identity::authenticated("alice", vec![]);
        let get = info(Method::GET, "/api/v1/namespaces", false);
        let post = info(Method::POST, "/api/v1/namespaces", false);
        let held = limits.admit(&get, &alice).unwrap();
        let refused = limits.admit(&get, &alice).unwrap_err();
        assert_eq!((refused.code, refused.reason), (429, "TooManyRequests"));
        let _write = limits.admit(&post, &alice).unwrap();
        assert!(limits.admit(&post, &alice).is_err());
        let admin = Identity::authenticated("admin", vec![MASTERS_GROUP.into()]);
        assert!(limits.admit(&get, &admin).is_ok());
        drop(held);
        assert!(limits.admit(&get, &alice).is_ok());
    }
}
