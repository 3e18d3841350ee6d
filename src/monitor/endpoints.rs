//! The kubelet's read-only endpoints over the sampled statistics, as the kubelet port and the
//! API server's `nodes/proxy` reach them: `/stats/summary`, `/metrics/resource`,
//! `/metrics/cadvisor`, `/metrics` (the kubelet's own figures, the board's sensors and the
//! process) and `/healthz`. Each answer is rendered from what the
//! sampler last took; none triggers a collection.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::store::NodeStats;
use super::{cadvisor_metrics, kubelet_metrics, resource_metrics, summary};
use crate::client::status::ApiError;
use crate::pod_streams::NodeResponse;
use crate::serving::{process_metrics, prometheus};

/// Capacity the next metrics document starts with: the size of the last one, so rendering
/// grows its buffer at most once per scrape and usually not at all.
static LAST_TEXT_SIZE: AtomicUsize = AtomicUsize::new(4096);

fn text(render: impl FnOnce(&mut String)) -> NodeResponse {
    let mut out = String::with_capacity(LAST_TEXT_SIZE.load(Ordering::Relaxed));
    render(&mut out);
    LAST_TEXT_SIZE.store(out.len().next_power_of_two(), Ordering::Relaxed);
    NodeResponse {
        status: 200,
        content_type: prometheus::CONTENT_TYPE.to_string(),
        body: Bytes::from(out),
    }
}

/// The answer to a GET of `path_and_query`, or 404 for a path the kubelet does not serve.
pub fn get(stats: &NodeStats, path_and_query: &str) -> Result<NodeResponse, ApiError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    match path.trim_end_matches('/') {
        "/healthz" => Ok(NodeResponse {
            status: 200,
            content_type: "text/plain; charset=utf-8".to_string(),
            body: Bytes::from_static(b"ok"),
        }),
        "/stats/summary" => {
            let full = !summary::only_cpu_and_memory(query);
            let body = summary::render(&stats.state(), full);
            Ok(NodeResponse {
                status: 200,
                content_type: "application/json".to_string(),
                body: Bytes::from(body),
            })
        }
        "/metrics/resource" => Ok(text(|out| resource_metrics::render(&stats.state(), out))),
        "/metrics/cadvisor" => Ok(text(|out| cadvisor_metrics::render(&stats.state(), out))),
        "/metrics" => Ok(text(|out| {
            kubelet_metrics::render(stats.inventory(), out);
            if let Some(sensors) = stats.sensors() {
                sensors.render_prometheus(out);
            }
            process_metrics::render(out, &process_metrics::read());
        })),
        _ => Err(ApiError::path_not_found()),
    }
}
