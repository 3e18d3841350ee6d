//! The API server's `/metrics`: its requests ([`RequestMetrics`]), what its store holds
//! (`apiserver_storage_objects` per resource as upstream, and the store's revision, size
//! and watch history), the watches waiting on it, and the process figures.

use super::request_metrics::RequestMetrics;
use crate::serving::process_metrics;
use crate::serving::prometheus::{self, Type};
use crate::store::Census;

/// The whole `/metrics` document.
pub fn render(requests: &RequestMetrics, census: &Census) -> String {
    let mut out = String::with_capacity(16 * 1024);
    requests.render(&mut out);
    storage(&mut out, census);
    process_metrics::render(&mut out, &process_metrics::read());
    out
}

/// `group/plural` as upstream's `resource` label spells it: `pods`, `deployments.apps`.
fn resource_label(resource: &str) -> String {
    match resource.split_once('/') {
        Some(("", plural)) => plural.to_string(),
        Some((group, plural)) => format!("{plural}.{group}"),
        None => resource.to_string(),
    }
}

fn storage(out: &mut String, c: &Census) {
    let objects = "apiserver_storage_objects";
    prometheus::family(
        out,
        objects,
        "Number of stored objects at the time of last check split by kind.",
        Type::Gauge,
    );
    for (resource, n) in &c.resources {
        let label = resource_label(resource);
        prometheus::sample(out, objects, &[("resource", &label)], n);
    }
    let gauges: [(&str, &str, usize); 4] = [
        (
            "bramble_store_object_bytes",
            "The JSON bytes of every stored object.",
            c.object_bytes,
        ),
        (
            "bramble_watch_history_events",
            "Changes kept in the watch history.",
            c.history_entries,
        ),
        (
            "bramble_watch_history_bytes",
            "Bytes of objects the watch history holds.",
            c.history_bytes,
        ),
        (
            "bramble_watchers",
            "Watches waiting on the store's next change.",
            c.watchers,
        ),
    ];
    let revision = "bramble_store_revision";
    prometheus::family(out, revision, "The store's newest revision.", Type::Gauge);
    prometheus::sample(out, revision, &[], c.revision);
    for (name, help, value) in gauges {
        prometheus::family(out, name, help, Type::Gauge);
        prometheus::sample(out, name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_figures_use_upstream_resource_labels() {
        let census = Census {
            revision: 7,
            resources: vec![("/pods".into(), 3), ("apps/deployments".into(), 1)],
            object_bytes: 900,
            history_entries: 4,
            history_bytes: 1200,
            watchers: 2,
        };
        let out = render(&RequestMetrics::default(), &census);
        assert!(out.contains("apiserver_storage_objects{resource=\"pods\"} 3\n"));
        assert!(out.contains("apiserver_storage_objects{resource=\"deployments.apps\"} 1\n"));
        assert!(out.contains("bramble_store_revision 7\n"));
        assert!(out.contains("bramble_watchers 2\n"));
        assert!(out.contains("# TYPE process_resident_memory_bytes gauge\n"));
        assert!(out.contains("# TYPE apiserver_request_total counter\n"));
    }
}
