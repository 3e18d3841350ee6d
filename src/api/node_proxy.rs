//! `nodes/proxy`: `GET /api/v1/nodes/{name}/proxy/{path}` relays a GET to the node's kubelet
//! (`kubectl get --raw /api/v1/nodes/pi/proxy/stats/summary`), as upstream's API server
//! does. Only the kubelet's read-only endpoints are reached this way, and the kubelet
//! decides which paths exist; the API server's authorizer has already checked `get` on
//! `nodes/proxy`, which only administrators hold by default.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};

use super::body::{self, ResponseBody};
use super::pod_streams::Kubelets;
use super::registry::Registry;
use super::request_info::ResourcePath;
use super::status::ApiError;
use crate::resources::node;

/// How long the kubelet may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `rp` addresses `nodes/{name}/proxy`.
pub fn handles(rp: &ResourcePath) -> bool {
    rp.group.is_empty()
        && rp.version == "v1"
        && rp.resource == "nodes"
        && rp.name.is_some()
        && rp.subresource.as_deref() == Some("proxy")
}

/// Relays `req` (for which [`handles`] is true) to the node's kubelet.
pub async fn serve<B>(
    registry: &Registry,
    kubelets: &Kubelets,
    rp: &ResourcePath,
    req: &Request<B>,
) -> Response<ResponseBody> {
    match relay(registry, kubelets, rp, req).await {
        Ok(r) => r,
        Err(e) => body::error(&e),
    }
}

/// The path below `/proxy` with the query, `/` when none.
fn kubelet_path(uri: &http::Uri) -> String {
    let path = uri.path();
    let below = path
        .find("/proxy")
        .map_or("", |i| &path[i + "/proxy".len()..]);
    let mut out = if below.is_empty() {
        "/".to_string()
    } else {
        below.to_string()
    };
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn relay<B>(
    registry: &Registry,
    kubelets: &Kubelets,
    rp: &ResourcePath,
    req: &Request<B>,
) -> Result<Response<ResponseBody>, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    // `nodes/pi:10250/proxy` names the kubelet's port too; there is only one
    let full = rp.name.as_deref().unwrap_or("");
    let name = full.split_once(':').map_or(full, |(n, _)| n);
    registry.get(&node::RESOURCE, "", name)?;
    let path = kubelet_path(req.uri());
    let streams = kubelets.for_node(name)?;
    let answer = tokio::time::timeout(TIMEOUT, streams.node_get(&path))
        .await
        .map_err(|_| {
            ApiError::unavailable(format!(
                "the kubelet of node {name:?} did not answer in time"
            ))
        })??;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok(body::full(status, &answer.content_type, answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_path_is_what_follows_proxy_with_its_query() {
        let uri: http::Uri = "/api/v1/nodes/pi/proxy/stats/summary?only_cpu_and_memory=true"
            .parse()
            .unwrap();
        assert_eq!(
            kubelet_path(&uri),
            "/stats/summary?only_cpu_and_memory=true"
        );
        let uri: http::Uri = "/api/v1/nodes/pi/proxy".parse().unwrap();
        assert_eq!(kubelet_path(&uri), "/");
        let uri: http::Uri = "/api/v1/nodes/pi/proxy/metrics/cadvisor".parse().unwrap();
        assert_eq!(kubelet_path(&uri), "/metrics/cadvisor");
    }
}
