//! `metrics.k8s.io/v1beta1`, the resource metrics API that metrics-server serves upstream
//! and `kubectl top` reads: `NodeMetrics` and `PodMetrics`, get and list, with label and
//! field selectors. The API server builds them itself from each node's `/stats/summary`
//! ([`scrape`]), so a cluster needs no metrics-server. Objects are those of the node and
//! pod kinds as stored (their names, namespaces and labels); one without figures yet is
//! left out of lists and is not found by a get, as upstream.

mod objects;
mod scrape;
mod summary;

use std::collections::{BTreeSet, HashMap};

use http::{Response, StatusCode};
use serde_json::Value;

use super::body::{self, ResponseBody};
use super::registry::Registry;
use super::request_info::ResourcePath;
use super::status::ApiError;
use super::unstored::UnstoredKind;
use crate::client::options::ListOptions;
use crate::pod_streams::node_name;
use crate::resources::{meta, node, pod};

pub use scrape::Scraper;

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// The served version.
pub const VERSION: &str = "v1beta1";

const VERBS: &[&str] = &["get", "list"];

/// The metrics kinds, as discovery lists them.
pub static METRICS_KINDS: &[UnstoredKind] = &[
    UnstoredKind {
        group: GROUP,
        version: VERSION,
        plural: "nodes",
        singular: "",
        kind: "NodeMetrics",
        namespaced: false,
        verbs: VERBS,
    },
    UnstoredKind {
        group: GROUP,
        version: VERSION,
        plural: "pods",
        singular: "",
        kind: "PodMetrics",
        namespaced: true,
        verbs: VERBS,
    },
];

/// Whether `rp` addresses the metrics API.
pub fn handles(rp: &ResourcePath) -> bool {
    rp.group == GROUP
}

/// Answers a request for which [`handles`] is true.
pub async fn serve(
    registry: &Registry,
    scraper: &Scraper,
    rp: &ResourcePath,
    verb: &str,
    query: &HashMap<String, String>,
) -> Response<ResponseBody> {
    match answer(registry, scraper, rp, verb, query).await {
        Ok(doc) => body::json(StatusCode::OK, &doc),
        Err(e) => body::error(&e),
    }
}

fn not_found(resource: &str, name: &str) -> ApiError {
    let mut e = ApiError::new(
        404,
        "NotFound",
        format!("{resource}.{GROUP} \"{name}\" not found"),
    );
    e.details.name = Some(name.to_string());
    e.details.group = Some(GROUP.to_string());
    e.details.kind = Some(resource.to_string());
    e
}

fn list_options(query: &HashMap<String, String>) -> ListOptions {
    let selector = |k: &str| query.get(k).cloned().unwrap_or_default();
    ListOptions {
        label_selector: selector("labelSelector"),
        field_selector: selector("fieldSelector"),
        ..Default::default()
    }
}

async fn answer(
    registry: &Registry,
    scraper: &Scraper,
    rp: &ResourcePath,
    verb: &str,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    if rp.version != VERSION || rp.subresource.is_some() {
        return Err(ApiError::path_not_found());
    }
    let now = meta::now();
    match (rp.resource.as_str(), verb) {
        ("nodes", "get") => {
            let name = rp.name.as_deref().unwrap_or("");
            let node = registry
                .get(&node::RESOURCE, "", name)
                .map_err(|_| not_found("nodemetrics", name))?;
            let summaries = scraper.summaries(&[name.to_string()], false).await;
            let usage = summaries.get(name).and_then(|s| s.node.usage());
            let usage = usage.ok_or_else(|| not_found("nodemetrics", name))?;
            Ok(objects::node_metrics(&node, &usage, &now))
        }
        ("nodes", "list") => {
            let nodes = registry.list(&node::RESOURCE, None, &list_options(query))?;
            let names: Vec<String> = nodes
                .items
                .iter()
                .map(|n| meta::name_of(n).to_string())
                .collect();
            let every = query.get("labelSelector").map_or(true, String::is_empty)
                && query.get("fieldSelector").map_or(true, String::is_empty);
            let summaries = scraper.summaries(&names, every).await;
            let items = nodes
                .items
                .iter()
                .filter_map(|n| {
                    let usage = summaries.get(meta::name_of(n))?.node.usage()?;
                    Some(objects::node_metrics(n, &usage, &now))
                })
                .collect();
            Ok(objects::list("NodeMetricsList", items))
        }
        ("pods", "get") => {
            let namespace = rp.namespace.as_deref().unwrap_or("");
            let name = rp.name.as_deref().unwrap_or("");
            let shown = format!("{namespace}/{name}");
            let pod = registry
                .get(&pod::RESOURCE, namespace, name)
                .map_err(|_| not_found("podmetrics", &shown))?;
            let items = pods_metrics(scraper, std::slice::from_ref(&pod), &now).await;
            items
                .into_iter()
                .next()
                .ok_or_else(|| not_found("podmetrics", &shown))
        }
        ("pods", "list") => {
            let pods = registry.list(
                &pod::RESOURCE,
                rp.namespace.as_deref(),
                &list_options(query),
            )?;
            let items = pods_metrics(scraper, &pods.items, &now).await;
            Ok(objects::list("PodMetricsList", items))
        }
        ("nodes" | "pods", _) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::path_not_found()),
    }
}

/// The metrics of those of `pods` whose node reports all their containers.
async fn pods_metrics(scraper: &Scraper, pods: &[Value], now: &str) -> Vec<Value> {
    let nodes: BTreeSet<String> = pods
        .iter()
        .map(|p| node_name(p).to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let nodes: Vec<String> = nodes.into_iter().collect();
    let summaries = scraper.summaries(&nodes, false).await;
    pods.iter()
        .filter_map(|p| {
            let summary = summaries.get(node_name(p))?;
            let uid = meta::meta_str(p, "uid").unwrap_or("");
            let stats = summary.pods.iter().find(|s| {
                s.pod_ref.name == meta::name_of(p)
                    && Some(s.pod_ref.namespace.as_str()) == meta::meta_str(p, "namespace")
                    && (s.pod_ref.uid.is_empty() || s.pod_ref.uid == uid)
            })?;
            let containers = stats.container_usage()?;
            if containers.is_empty() {
                return None;
            }
            Some(objects::pod_metrics(p, &containers, now))
        })
        .collect()
}
