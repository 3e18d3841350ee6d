//! The API server's request figures under upstream's names: `apiserver_request_total` by
//! verb, group, version, resource, subresource, scope and code,
//! `apiserver_request_duration_seconds` (with upstream's buckets) for requests that are not
//! long-running, and `apiserver_current_inflight_requests`. Series are created on first use
//! and bounded in number: past [`MAX_SERIES`], requests are counted in one series with
//! empty resource labels, so no stream of made-up paths can grow memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::request_info::{RequestInfo, Target};
use crate::serving::prometheus::{self, Type};

/// The most distinct label sets kept.
pub const MAX_SERIES: usize = 2048;

/// Upstream's buckets of `apiserver_request_duration_seconds`, in seconds.
const BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct Labels {
    verb: &'static str,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: &'static str,
    dry_run: bool,
}

#[derive(Debug, Default)]
struct Series {
    /// Requests per response code.
    codes: Vec<(u16, u64)>,
    /// Observations per bucket (not cumulative).
    buckets: [u64; BUCKETS.len()],
    observations: u64,
    seconds: f64,
}

/// Which in-flight gauge a request counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Reads.
    ReadOnly,
    /// Writes.
    Mutating,
}

/// The request figures of one server.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    series: Mutex<HashMap<Labels, Series>>,
    read_only: Arc<AtomicI64>,
    mutating: Arc<AtomicI64>,
}

/// A request in flight; dropping it ends it.
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicI64>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Upstream's canonical verb of a request (`LIST`, `WATCH`, `APPLY`, `CONNECT`, ...).
fn canonical_verb(info: &RequestInfo, apply: bool) -> &'static str {
    if let Target::Resource(rp) = &info.target {
        if matches!(
            rp.subresource.as_deref(),
            Some("exec" | "attach" | "portforward" | "proxy")
        ) {
            return "CONNECT";
        }
    }
    match info.verb {
        "get" => "GET",
        "list" => "LIST",
        "watch" => "WATCH",
        "create" | "post" => "POST",
        "update" | "put" => "PUT",
        "patch" if apply => "APPLY",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        _ => "UNKNOWN",
    }
}

fn labels(info: &RequestInfo, apply: bool, dry_run: bool) -> Labels {
    let verb = canonical_verb(info, apply);
    match &info.target {
        Target::Resource(rp) => Labels {
            verb,
            group: rp.group.clone(),
            version: rp.version.clone(),
            resource: rp.resource.clone(),
            subresource: rp.subresource.clone().unwrap_or_default(),
            scope: if rp.name.is_some() {
                "resource"
            } else if rp.namespace.is_some() {
                "namespace"
            } else {
                "cluster"
            },
            dry_run,
        },
        _ => Labels {
            verb,
            ..Labels::default()
        },
    }
}

impl RequestMetrics {
    /// Counts a request in its in-flight gauge until the guard is dropped.
    pub fn in_flight(&self, kind: RequestKind) -> InFlightGuard {
        let gauge = match kind {
            RequestKind::ReadOnly => &self.read_only,
            RequestKind::Mutating => &self.mutating,
        };
        gauge.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(gauge.clone())
    }

    /// Records a finished request: its code, and its duration when it is not long-running.
    pub fn record(
        &self,
        info: &RequestInfo,
        apply: bool,
        dry_run: bool,
        code: u16,
        took: Option<Duration>,
    ) {
        let mut key = labels(info, apply, dry_run);
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if !series.contains_key(&key) && series.len() >= MAX_SERIES {
            key = Labels {
                verb: key.verb,
                ..Labels::default()
            };
        }
        let s = series.entry(key).or_default();
        match s.codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => s.codes.push((code, 1)),
        }
        if let Some(took) = took {
            let secs = took.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                s.buckets[i] = s.buckets[i].saturating_add(1);
            }
            s.observations = s.observations.saturating_add(1);
            s.seconds += secs;
        }
    }

    /// Writes the request families.
    pub fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sorted: Vec<(&Labels, &Series)> = series.iter().collect();
        sorted.sort_by(|a, b| {
            (
                a.0.group.as_str(),
                a.0.resource.as_str(),
                a.0.subresource.as_str(),
                a.0.verb,
            )
                .cmp(&(
                    b.0.group.as_str(),
                    b.0.resource.as_str(),
                    b.0.subresource.as_str(),
                    b.0.verb,
                ))
        });
        let base = |l: &'_ Labels| -> Vec<(&'static str, String)> {
            vec![
                ("component", "apiserver".to_string()),
                ("dry_run", if l.dry_run { "All" } else { "" }.to_string()),
                ("group", l.group.clone()),
                ("resource", l.resource.clone()),
                ("scope", l.scope.to_string()),
                ("subresource", l.subresource.clone()),
                ("verb", l.verb.to_string()),
                ("version", l.version.clone()),
            ]
        };
        let total = "apiserver_request_total";
        prometheus::family(
            out,
            total,
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
            Type::Counter,
        );
        for (l, s) in &sorted {
            let mut codes = s.codes.clone();
            codes.sort_unstable();
            for (code, n) in codes {
                let mut labels = base(l);
                labels.insert(0, ("code", code.to_string()));
                write(out, total, &labels, n);
            }
        }
        let duration = "apiserver_request_duration_seconds";
        prometheus::family(
            out,
            duration,
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
            Type::Histogram,
        );
        for (l, s) in sorted.iter().filter(|(_, s)| s.observations > 0) {
            let mut cumulative = 0u64;
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative = cumulative.saturating_add(n);
                let mut labels = base(l);
                labels.push(("le", prometheus::float(*bound)));
                write(out, &format!("{duration}_bucket"), &labels, cumulative);
            }
            let mut labels = base(l);
            labels.push(("le", "+Inf".into()));
            write(out, &format!("{duration}_bucket"), &labels, s.observations);
            write(
                out,
                &format!("{duration}_sum"),
                &base(l),
                prometheus::float(s.seconds),
            );
            write(out, &format!("{duration}_count"), &base(l), s.observations);
        }
        drop(series);
        let inflight = "apiserver_current_inflight_requests";
        prometheus::family(
            out,
            inflight,
            "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
            Type::Gauge,
        );
        for (kind, gauge) in [("mutating", &self.mutating), ("readOnly", &self.read_only)] {
            let n = gauge.load(Ordering::Relaxed).max(0);
            prometheus::sample(out, inflight, &[("request_kind", kind)], n);
        }
    }
}

fn write(
    out: &mut String,
    name: &str,
    labels: &[(&'static str, String)],
    value: impl std::fmt::Display,
) {
    let borrowed: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    prometheus::sample(out, name, &borrowed, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request_info;
    use http::Method;

    fn info(method: Method, path: &str) -> RequestInfo {
        request_info::parse(&method, path, false)
    }

    #[test]
    fn requests_are_counted_by_upstream_labels_and_durations_bucketed() {
        let m = RequestMetrics::default();
        let list = info(Method::GET, "/api/v1/namespaces/default/pods");
        m.record(&list, false, false, 200, Some(Duration::from_millis(3)));
        m.record(&list, false, false, 200, Some(Duration::from_millis(30)));
        m.record(&list, false, false, 403, Some(Duration::from_millis(1)));
        let apply = info(Method::PATCH, "/apis/apps/v1/namespaces/a/deployments/web");
        m.record(&apply, true, false, 201, Some(Duration::from_secs(100)));
        let exec = info(Method::GET, "/api/v1/namespaces/a/pods/p/exec");
        m.record(&exec, false, false, 101, None);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 2\n"
        ), "{out}");
        assert!(out.contains("code=\"403\""));
        assert!(out.contains("verb=\"APPLY\",version=\"v1\"} 1\n"));
        assert!(out.contains("subresource=\"exec\",verb=\"CONNECT\""));
        // 3 ms and 1 ms in the first bucket, 30 ms in the 0.05 one
        assert!(
            out.contains("verb=\"LIST\",version=\"v1\",le=\"0.005\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("verb=\"LIST\",version=\"v1\",le=\"0.05\"} 3\n"));
        assert!(out.contains("verb=\"LIST\",version=\"v1\",le=\"+Inf\"} 3\n"));
        // 100 s is past the last bucket but counted
        assert!(out.contains("verb=\"APPLY\",version=\"v1\",le=\"60\"} 0\n"));
        assert!(out.contains("verb=\"APPLY\",version=\"v1\",le=\"+Inf\"} 1\n"));
        // no duration for the long-running exec
        assert!(!out.contains("apiserver_request_duration_seconds_count{component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"resource\",subresource=\"exec\""));
    }

    #[test]
    fn made_up_paths_cannot_grow_the_series_past_the_bound() {
        let m = RequestMetrics::default();
        for i in 0..(MAX_SERIES + 100) {
            let i = info(Method::GET, &format!("/apis/x{i}.io/v1/things"));
            m.record(&i, false, false, 404, Some(Duration::ZERO));
        }
        assert_eq!(m.series.lock().unwrap().len(), MAX_SERIES + 1);
    }

    #[test]
    fn in_flight_requests_are_gauged_per_kind() {
        let m = RequestMetrics::default();
        let a = m.in_flight(RequestKind::Mutating);
        let _b = m.in_flight(RequestKind::ReadOnly);
        let _c = m.in_flight(RequestKind::ReadOnly);
        drop(a);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("apiserver_current_inflight_requests{request_kind=\"mutating\"} 0\n"));
        assert!(out.contains("apiserver_current_inflight_requests{request_kind=\"readOnly\"} 2\n"));
    }
}
