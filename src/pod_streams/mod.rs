//! The seam between the API server and whatever runs a node's containers: the `pods/log`,
//! `pods/exec`, `pods/attach` and `pods/portforward` subresources ask a [`PodStreams`] for
//! byte streams, so the HTTP side (parameter
//! parsing, container defaulting, the WebSocket channel protocol) never depends on the kubelet.
//! [`Kubelets`] picks the one for a pod's node: the server's own kubelet is called in
//! process, without a network hop; the kubelets of joined boards are reached over HTTPS
//! (`api/kubelet_client.rs`), as upstream's kubelet connection (`pkg/kubelet/client`) does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::client::status::ApiError;

pub mod log_options;
pub mod wire;

/// What `kubectl logs` asks for, as upstream's `PodLogOptions`, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRequest {
    /// Keep streaming as the container writes.
    pub follow: bool,
    /// Logs of the previous (terminated) instance of the container.
    pub previous: bool,
    /// Only this many lines from the end.
    pub tail_lines: Option<i64>,
    /// Only lines newer than this many seconds.
    pub since_seconds: Option<i64>,
    /// Only lines at or after this RFC 3339 time.
    pub since_time: Option<String>,
    /// Prefix every line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

/// A terminal's size in characters, as remotecommand's resize channel carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// The pipes of one process started in a container by `exec`.
#[derive(Debug)]
pub struct ExecStreams {
    /// Feeds the process's stdin (when asked for); dropping it closes stdin.
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// Resizes the process's terminal (with a terminal only).
    pub resize: Option<mpsc::Sender<TerminalSize>>,
    /// The process's stdout; ends when the process closes it.
    pub stdout: mpsc::Receiver<Bytes>,
    /// The process's stderr; ends when the process closes it.
    pub stderr: mpsc::Receiver<Bytes>,
    /// The exit code once the process has ended.
    pub exit: oneshot::Receiver<i32>,
}

/// One TCP connection to a port of a pod, made inside the pod's network namespace.
#[derive(Debug)]
pub struct PortStreams {
    /// Bytes for the pod's port; dropping it shuts the connection down for writing.
    pub to_pod: mpsc::Sender<Bytes>,
    /// What the pod's port sends; ends when the pod closes its side or the connection fails.
    pub from_pod: mpsc::Receiver<Bytes>,
}

/// The answer of one of a kubelet's read-only HTTP endpoints, as `nodes/proxy` relays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` of `body`.
    pub content_type: String,
    /// The whole body (these endpoints answer with documents of bounded size).
    pub body: Bytes,
}

/// A boxed future as the object-safe methods of [`PodStreams`] return.
pub type StreamFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// Log and exec streams of a node's containers (implemented by the kubelet).
pub trait PodStreams: Send + Sync {
    /// The log of `container` of `namespace/pod`, chunk by chunk; the stream ends with the log
    /// (or, when following, when the container stops and its log is drained).
    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        request: LogRequest,
    ) -> StreamFuture<'a, mpsc::Receiver<Bytes>>;

    /// Starts `command` in `container` of `namespace/pod`; `stdin` says whether the caller
    /// will send input, `tty` whether the process gets a terminal (its output then all on
    /// stdout, as a terminal merges it).
    fn exec<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        command: Vec<String>,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams>;

    /// Attaches to the running `container`'s own stdio (`kubectl attach`): its output from
    /// now on, and its stdin when `stdin`; `tty` when the client has a terminal. The exit
    /// code is 0 once the container has ended or closed its output.
    fn attach<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams>;

    /// Connects to `localhost:port` inside the network namespace of `namespace/pod`
    /// (`kubectl port-forward`); `Err` says why no connection could be made, which kubectl
    /// shows the user.
    fn port_forward<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        port: u16,
    ) -> StreamFuture<'a, PortStreams> {
        let _ = (namespace, pod, port);
        Box::pin(async { Err(ApiError::internal("this node does not forward ports")) })
    }

    /// A GET of the kubelet's read-only endpoint `path_and_query` (`/stats/summary`,
    /// `/metrics`, `/metrics/cadvisor`, `/metrics/resource`, `/healthz`), as the API
    /// server's `nodes/proxy` subresource relays it and the metrics API reads it.
    fn node_get<'a>(&'a self, path_and_query: &'a str) -> StreamFuture<'a, NodeResponse> {
        let _ = path_and_query;
        Box::pin(async { Err(ApiError::path_not_found()) })
    }
}

/// Reaches the kubelet of a node other than the server's own.
pub trait KubeletConnector: Send + Sync {
    /// The streams of `node`'s kubelet, or why it cannot be reached.
    fn connect(&self, node: &str) -> Result<Arc<dyn PodStreams>, ApiError>;
}

/// Which kubelet answers for which node.
#[derive(Clone, Default)]
pub struct Kubelets {
    /// The server's own board: its node name and its in-process kubelet.
    pub local: Option<(String, Arc<dyn PodStreams>)>,
    /// Every other node.
    pub remote: Option<Arc<dyn KubeletConnector>>,
}

impl Kubelets {
    /// The streams of the kubelet serving `node`.
    pub fn for_node(&self, node: &str) -> Result<Arc<dyn PodStreams>, ApiError> {
        if let Some((name, streams)) = &self.local {
            if name == node {
                return Ok(streams.clone());
            }
        }
        match &self.remote {
            Some(r) => r.connect(node),
            None => Err(no_kubelet(node)),
        }
    }
}

/// The node a pod is bound to (`spec.nodeName`), empty when unscheduled.
pub fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The error when no kubelet serves the pod's node, as upstream answers when it cannot reach
/// the node's kubelet (a 500 naming the node).
pub fn no_kubelet(node: &str) -> ApiError {
    ApiError::internal(format!(
        "no kubelet is serving node {node:?}: logs and exec need the node's kubelet to be running"
    ))
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The container a log or exec request addresses, as upstream's `validateContainer`
/// (`pkg/registry/core/pod/strategy.go`): the only container when none is named, else a
/// container, init container or ephemeral container of the pod.
pub fn resolve_container(pod: &Value, requested: &str) -> Result<String, ApiError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let containers = names(pod, "containers");
    if requested.is_empty() {
        return match containers.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ApiError::bad_request(format!(
                "pod {pod_name} does not have a container"
            ))),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    many.join(" ")
                );
                let init = names(pod, "initContainers");
                if !init.is_empty() {
                    message += &format!(" or one of the init containers: [{}]", init.join(" "));
                }
                Err(ApiError::bad_request(message))
            }
        };
    }
    let known = containers
        .iter()
        .chain(&names(pod, "initContainers"))
        .chain(&names(pod, "ephemeralContainers"))
        .any(|c| c == requested);
    if known {
        Ok(requested.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "container {requested} is not valid for pod {pod_name}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let c: Vec<Value> = containers.iter().map(|n| json!({"name": n})).collect();
        let i: Vec<Value> = init.iter().map(|n| json!({"name": n})).collect();
        json!({"metadata": {"name": "p"}, "spec": {"containers": c, "initContainers": i}})
    }

    #[test]
    fn the_only_container_is_the_default() {
        assert_eq!(resolve_container(&pod(&["web"], &[]), "").unwrap(), "web");
    }

    #[test]
    fn several_containers_need_a_name() {
        let e = resolve_container(&pod(&["a", "b"], &[]), "").unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        let e = resolve_container(&pod(&["a", "b"], &["setup"]), "").unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [setup]"
        );
    }

    #[test]
    fn named_containers_must_belong_to_the_pod() {
        let p = pod(&["a", "b"], &["setup"]);
        assert_eq!(resolve_container(&p, "b").unwrap(), "b");
        assert_eq!(resolve_container(&p, "setup").unwrap(), "setup");
        let e = resolve_container(&p, "c").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container c is not valid for pod p")
        );
    }
}
