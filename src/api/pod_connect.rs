//! Routes the streaming pod subresources (`log`, `exec`, `attach`, `portforward`), which
//! upstream serves as "connect" endpoints rather than object reads and writes: they need the
//! raw request (a repeated `command` parameter, the connection upgrade) and the node's
//! [`PodStreams`].

use std::collections::HashMap;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use super::body::{self, ResponseBody};
use super::pod_streams::Kubelets;
use super::registry::Registry;
use super::request_info::ResourcePath;
use super::status::ApiError;
use super::{pod_exec, pod_log, pod_port_forward};
use crate::resources::pod;

/// Whether `rp` addresses a streaming pod subresource this module serves.
pub fn handles(rp: &ResourcePath) -> bool {
    rp.group.is_empty()
        && rp.version == "v1"
        && rp.resource == "pods"
        && rp.name.is_some()
        && matches!(
            rp.subresource.as_deref(),
            Some("log" | "exec" | "attach" | "portforward")
        )
}

/// Serves `rp` (for which [`handles`] is true).
pub async fn serve(
    registry: &Registry,
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    rp: &ResourcePath,
    query: &HashMap<String, String>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    match dispatch(registry, kubelets, shutdown, rp, query, req).await {
        Ok(r) => r,
        Err(e) => body::error(&e),
    }
}

async fn dispatch(
    registry: &Registry,
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    rp: &ResourcePath,
    query: &HashMap<String, String>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let namespace = rp
        .namespace
        .as_deref()
        .ok_or_else(ApiError::path_not_found)?;
    let name = rp.name.as_deref().unwrap_or("");
    let method = req.method().clone();
    match (rp.subresource.as_deref(), method) {
        (Some("log"), Method::GET) => {
            let obj = registry.get(&pod::RESOURCE, namespace, name)?;
            pod_log::serve(kubelets, shutdown, &obj, query).await
        }
        // kubectl's WebSocket client upgrades a GET; upstream also accepts POST.
        (Some("exec"), Method::GET | Method::POST) => {
            let obj = registry.get(&pod::RESOURCE, namespace, name)?;
            pod_exec::serve(kubelets, shutdown, &obj, req, false).await
        }
        (Some("attach"), Method::GET | Method::POST) => {
            let obj = registry.get(&pod::RESOURCE, namespace, name)?;
            pod_exec::serve(kubelets, shutdown, &obj, req, true).await
        }
        // kubectl's WebSocket tunnel upgrades a GET, its SPDY fallback a POST.
        (Some("portforward"), Method::GET | Method::POST) => {
            let obj = registry.get(&pod::RESOURCE, namespace, name)?;
            pod_port_forward::serve(kubelets, shutdown, &obj, req).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
