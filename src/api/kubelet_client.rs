//! The API server's connection to kubelets on joined boards (upstream's
//! `pkg/kubelet/client`): finds a node's kubelet at its `InternalIP` and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, checks the kubelet's certificate against
//! the cluster CA, presents the API server's own client certificate (`system:masters`, as
//! kubeadm's `apiserver-kubelet-client`), and speaks [`kubelet_wire`](super::kubelet_wire).
//! One HTTP/2 connection per kubelet address is kept and reused. A node whose kubelet port
//! cannot be dialled (a board behind NAT) is reached through the tunnel its agent keeps open
//! to the server, chosen per request by [`Routes`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::body::ChannelBody;
use super::kubelet_wire::{self, Channel, Frame, FrameDecoder};
use super::pod_streams::{
    self, ExecStreams, KubeletConnector, LogRequest, NodeResponse, PodStreams, PortStreams,
    StreamFuture, TerminalSize,
};
use super::registry::Registry;
use super::status::ApiError;
use crate::client::http::{HttpClient, RequestBody};
use crate::resources::node;
use crate::tunnel::route::RouteError;
use crate::tunnel::Routes;

/// Chunks buffered per stream between a kubelet and the API server's client.
const CHUNKS: usize = 16;
/// The largest read-only endpoint answer taken from a kubelet: a summary or a cAdvisor
/// scrape of a board's pods is a few hundred KiB; a kubelet answering more is not believed.
const MAX_NODE_GET_BYTES: usize = 8 << 20;

/// Dials kubelets of nodes in the registry.
pub struct RemoteKubelets {
    registry: Registry,
    tls: Arc<rustls::ClientConfig>,
    clients: Mutex<HashMap<String, Arc<HttpClient>>>,
    routes: Routes,
}

impl RemoteKubelets {
    /// Dials with `tls` (the cluster CA as the only root, the API server's client
    /// certificate), or goes through the nodes' tunnels in `routes`.
    pub fn new(registry: Registry, tls: Arc<rustls::ClientConfig>, routes: Routes) -> Self {
        Self {
            registry,
            tls,
            clients: Mutex::new(HashMap::new()),
            routes,
        }
    }
}

/// `https://<InternalIP>:<kubelet port>` of a Node object, if it reports both.
pub fn kubelet_url(node: &Value) -> Option<String> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))?;
    let ip: std::net::IpAddr = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?
        .iter()
        .find(|a| a["type"] == "InternalIP")?
        .get("address")
        .and_then(Value::as_str)?
        .parse()
        .ok()?;
    Some(format!(
        "https://{}",
        std::net::SocketAddr::new(ip, port as u16)
    ))
}

impl KubeletConnector for RemoteKubelets {
    fn connect(&self, node_name: &str) -> Result<Arc<dyn PodStreams>, ApiError> {
        let node = self
            .registry
            .get(&node::RESOURCE, "", node_name)
            .map_err(|_| pod_streams::no_kubelet(node_name))?;
        let direct = match kubelet_url(&node) {
            Some(url) => Some(self.client(&url)?),
            // a board behind NAT may be reachable through its tunnel all the same
            None if self.routes.has_tunnel(node_name) => None,
            None => return Err(pod_streams::no_kubelet(node_name)),
        };
        Ok(Arc::new(RemoteKubelet {
            node: node_name.to_string(),
            direct,
            routes: self.routes.clone(),
        }))
    }
}

impl RemoteKubelets {
    /// The kept connection to the kubelet at `url`.
    fn client(&self, url: &str) -> Result<Arc<HttpClient>, ApiError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ApiError::internal("kubelet connection table poisoned"))?;
        if let Some(c) = clients.get(url) {
            return Ok(c.clone());
        }
        let c = HttpClient::with_tls(url, self.tls.clone(), None).map_err(ApiError::internal)?;
        clients.insert(url.to_string(), c.clone());
        Ok(c)
    }
}

/// One node's kubelet over HTTPS, directly or through the node's tunnel.
struct RemoteKubelet {
    node: String,
    /// The kubelet port's client, when the node reports an address.
    direct: Option<Arc<HttpClient>>,
    routes: Routes,
}

impl RemoteKubelet {
    /// Sends one request to the kubelet the way [`Routes`] chooses.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: RequestBody,
    ) -> Result<http::Response<Incoming>, ApiError> {
        let link = self
            .routes
            .link(&self.node, self.direct.clone())
            .await
            .map_err(|e| match e {
                RouteError::NoRoute => pod_streams::no_kubelet(&self.node),
                e => self.unreachable(e),
            })?;
        link.send(&self.node, method, uri, body)
            .await
            .map_err(|e| self.unreachable(e))
    }

    fn empty() -> RequestBody {
        http_body_util::Full::new(Bytes::new()).boxed()
    }

    /// A failed or refused answer as the error a kubectl user sees, naming the node.
    async fn refusal(&self, resp: http::Response<Incoming>) -> ApiError {
        let code = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        match serde_json::from_slice::<Value>(&body) {
            Ok(status) if status["kind"] == "Status" => {
                crate::client::remote::from_status(code, &status)
            }
            _ => ApiError::internal(format!(
                "the kubelet of node {:?} answered {code}: {}",
                self.node,
                String::from_utf8_lossy(&body).trim()
            )),
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ApiError {
        ApiError::internal(format!(
            "cannot reach the kubelet of node {:?}: {e}",
            self.node
        ))
    }
}

/// Forwards the data frames of `body` to `tx` until either side ends.
async fn pump(mut body: Incoming, tx: mpsc::Sender<Bytes>) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        if let Ok(data) = frame.into_data() {
            if tx.send(data).await.is_err() {
                return;
            }
        }
    }
}

impl PodStreams for RemoteKubelet {
    fn node_get<'a>(&'a self, path_and_query: &'a str) -> StreamFuture<'a, NodeResponse> {
        Box::pin(async move {
            let resp = self
                .send(Method::GET, path_and_query, Self::empty())
                .await?;
            let status = resp.status().as_u16();
            if !resp.status().is_success() {
                return Err(self.refusal(resp).await);
            }
            let content_type = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain")
                .to_string();
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_NODE_GET_BYTES);
            let body = limited.collect().await.map_err(|e| {
                ApiError::internal(format!(
                    "reading {path_and_query} from the kubelet of node {:?}: {e}",
                    self.node
                ))
            })?;
            Ok(NodeResponse {
                status,
                content_type,
                body: body.to_bytes(),
            })
        })
    }

    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        request: LogRequest,
    ) -> StreamFuture<'a, mpsc::Receiver<Bytes>> {
        Box::pin(async move {
            let uri = kubelet_wire::logs_uri(namespace, pod, container, &request);
            let resp = self.send(Method::GET, &uri, Self::empty()).await?;
            if !resp.status().is_success() {
                return Err(self.refusal(resp).await);
            }
            let (tx, rx) = mpsc::channel(CHUNKS);
            tokio::spawn(pump(resp.into_body(), tx));
            Ok(rx)
        })
    }

    fn exec<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        command: Vec<String>,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        let uri = kubelet_wire::exec_uri(namespace, pod, container, &command, stdin, tty);
        Box::pin(self.stream(uri, stdin, tty))
    }

    fn attach<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        let uri = kubelet_wire::attach_uri(namespace, pod, container, stdin, tty);
        Box::pin(self.stream(uri, stdin, tty))
    }

    fn port_forward<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        port: u16,
    ) -> StreamFuture<'a, PortStreams> {
        Box::pin(async move {
            let uri = kubelet_wire::port_forward_uri(namespace, pod, port);
            let (to_pod, body) = ChannelBody::channel(CHUNKS);
            let resp = self.open(&uri, body).await?;
            let (tx, from_pod) = mpsc::channel(CHUNKS);
            tokio::spawn(pump(resp.into_body(), tx));
            Ok(PortStreams { to_pod, from_pod })
        })
    }
}

impl RemoteKubelet {
    /// Opens a streaming exchange on `uri` with `body` as its upload; a kubelet's refusal
    /// becomes its API error.
    async fn open(
        &self,
        uri: &str,
        body: RequestBody,
    ) -> Result<http::Response<Incoming>, ApiError> {
        let resp = self.send(Method::POST, uri, body).await?;
        if !resp.status().is_success() {
            return Err(self.refusal(resp).await);
        }
        Ok(resp)
    }

    /// An exec or attach exchange on `uri` (see `kubelet_wire`).
    async fn stream(&self, uri: String, stdin: bool, tty: bool) -> Result<ExecStreams, ApiError> {
        {
            let (body_tx, body) = ChannelBody::channel(CHUNKS);
            let (stdin_tx, resize) = if tty {
                let (stdin_tx, resize_tx) = frame_terminal_input(body_tx);
                (stdin.then_some(stdin_tx), Some(resize_tx))
            } else {
                (stdin.then_some(body_tx), None)
            };
            let resp = self.open(&uri, body).await?;
            let (out_tx, stdout) = mpsc::channel(CHUNKS);
            let (err_tx, stderr) = mpsc::channel(CHUNKS);
            let (exit_tx, exit) = oneshot::channel();
            let node = self.node.clone();
            tokio::spawn(async move {
                let mut body = resp.into_body();
                let mut decoder = FrameDecoder::default();
                let mut exit_tx = Some(exit_tx);
                while let Some(Ok(frame)) = body.frame().await {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    decoder.push(&data);
                    loop {
                        match decoder.next_frame() {
                            Ok(Some(Frame::Stdout(b))) => {
                                let _ = out_tx.send(b).await;
                            }
                            Ok(Some(Frame::Stderr(b))) => {
                                let _ = err_tx.send(b).await;
                            }
                            Ok(Some(Frame::Exit(code))) => {
                                if let Some(tx) = exit_tx.take() {
                                    let _ = tx.send(code);
                                }
                            }
                            // Input frames only ever travel to the kubelet.
                            Ok(Some(Frame::Stdin(_) | Frame::Resize(_))) => {}
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(%node, error = %e, "bad exec stream from kubelet");
                                return;
                            }
                        }
                    }
                }
            });
            Ok(ExecStreams {
                stdin: stdin_tx,
                resize,
                stdout,
                stderr,
                exit,
            })
        }
    }
}

/// Senders of typed input and terminal sizes, framed onto one request body (the wire's
/// terminal form); the body ends when both have been dropped.
fn frame_terminal_input(
    body: mpsc::Sender<Bytes>,
) -> (mpsc::Sender<Bytes>, mpsc::Sender<TerminalSize>) {
    let (stdin_tx, mut stdin_rx) = mpsc::channel::<Bytes>(CHUNKS);
    let (resize_tx, mut resize_rx) = mpsc::channel::<TerminalSize>(4);
    tokio::spawn(async move {
        let (mut stdin_open, mut resize_open) = (true, true);
        while stdin_open || resize_open {
            let frame = tokio::select! {
                b = stdin_rx.recv(), if stdin_open => match b {
                    Some(b) => kubelet_wire::encode_frame(Channel::Stdin, &b),
                    None => { stdin_open = false; continue; }
                },
                s = resize_rx.recv(), if resize_open => match s {
                    Some(s) => kubelet_wire::resize_frame(s),
                    None => { resize_open = false; continue; }
                },
            };
            if body.send(frame).await.is_err() {
                return;
            }
        }
    });
    (stdin_tx, resize_tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_is_dialled_at_its_internal_ip_and_kubelet_port() {
        let n = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "pi-2"}, {"type": "InternalIP", "address": "192.168.1.41"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        assert_eq!(
            kubelet_url(&n).as_deref(),
            Some("https://192.168.1.41:10250")
        );
        let v6 = json!({"status": {
            "addresses": [{"type": "InternalIP", "address": "fd00::2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        assert_eq!(kubelet_url(&v6).as_deref(), Some("https://[fd00::2]:10250"));
        let no_port =
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}});
        assert_eq!(kubelet_url(&no_port), None);
    }
}
