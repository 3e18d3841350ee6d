//! `GET pods/{name}/log`: parses and validates upstream's `PodLogOptions` query parameters and
//! streams the container's log as `text/plain`, as upstream's `LogREST`
//! (`pkg/registry/core/pod/rest/log.go`) does through the kubelet.

use std::collections::HashMap;

use http::{Response, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::body::{self, ResponseBody};
use super::pod_streams::log_options::parse;
use super::pod_streams::{self, Kubelets};
use super::status::ApiError;

/// Chunks buffered between the log reader and the connection.
const LOG_CHUNKS: usize = 16;

/// Serves the log of one container of `pod` (the stored object).
pub async fn serve(
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    pod: &Value,
    query: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, ApiError> {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (requested, request) = parse(query, name)?;
    let container = pod_streams::resolve_container(pod, &requested)?;
    let node = pod_streams::node_name(pod);
    if node.is_empty() {
        // Upstream's `LogLocation` has nowhere to stream from: an empty log.
        return Ok(body::full(StatusCode::OK, "text/plain", ""));
    }
    let streams = kubelets.for_node(node)?;
    let mut rx = streams.logs(namespace, name, &container, request).await?;
    let (tx, out) = body::ChannelBody::channel(LOG_CHUNKS);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let chunk = tokio::select! {
                c = rx.recv() => match c { Some(c) => c, None => break },
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
            };
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(body::streaming(StatusCode::OK, "text/plain", out))
}
