//! This node's answer to `kubectl logs`, `exec` and `attach`: the API server's
//! [`PodStreams`] implemented over the kubelet's CRI log files and the runtime's exec (with
//! `-t`, over the terminal the runtime hands over: typed input, output and window sizes),
//! and attach through the container's supervisor (`runtime::attach`); `kubectl port-forward`
//! connects inside the pod's network namespace (`port_forward`). The read-only endpoints
//! (`/stats/summary`, `/metrics/...`, `/healthz`) answer from the node's sampled statistics
//! (`monitor::endpoints`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::logs::{stream_logs, LogOptions};
use super::port_forward::{self, PodNetns};
use super::runtime::console::Console;
use super::runtime::{cri_log, ContainerRuntime, ContainerState, ExecSpec};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::monitor::{endpoints, NodeStats};
use crate::pod_streams::wire::{self, Channel, Frame, FrameDecoder};
use crate::pod_streams::{
    ExecStreams, LogRequest, NodeResponse, PodStreams, PortStreams, StreamFuture, TerminalSize,
};
use crate::resources::pod;

/// Logs and exec for pods on this node.
pub struct KubeletStreams<C: Client> {
    client: C,
    data_dir: PathBuf,
    runtime: Arc<dyn ContainerRuntime>,
    netns_dir: PathBuf,
    stats: Option<Arc<NodeStats>>,
}

impl<C: Client> KubeletStreams<C> {
    /// Streams for the kubelet keeping its state in `data_dir` and pinning pod network
    /// namespaces in `netns_dir` (`network::netns_dir` of its run directory).
    pub fn new(
        client: C,
        data_dir: PathBuf,
        runtime: Arc<dyn ContainerRuntime>,
        netns_dir: PathBuf,
    ) -> Self {
        Self {
            client,
            data_dir,
            runtime,
            netns_dir,
            stats: None,
        }
    }

    /// Serves the read-only endpoints from `stats`, the handle the kubelet samples into
    /// (`KubeletConfig::stats`); without it they answer as a node with nothing sampled.
    pub fn with_stats(mut self, stats: Arc<NodeStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The container's status entry in the pod (regular, init or ephemeral container).
    fn status_of<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
        [
            "/status/containerStatuses",
            "/status/initContainerStatuses",
            "/status/ephemeralContainerStatuses",
        ]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|s| s["name"] == container)
    }
}

fn container_id(status: &Value) -> Option<String> {
    status["containerID"]
        .as_str()
        .and_then(|id| id.strip_prefix("bramble://"))
        .map(str::to_string)
}

fn since(req: &LogRequest) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Some(s) = req.since_seconds {
        return Some(crate::resources::seconds::wall_before(
            chrono::Utc::now(),
            s,
        ));
    }
    req.since_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

impl<C: Client> PodStreams for KubeletStreams<C> {
    fn node_get<'a>(&'a self, path_and_query: &'a str) -> StreamFuture<'a, NodeResponse> {
        Box::pin(async move {
            match &self.stats {
                Some(stats) => endpoints::get(stats, path_and_query),
                None => endpoints::get(&NodeStats::default(), path_and_query),
            }
        })
    }

    fn port_forward<'a>(
        &'a self,
        namespace: &'a str,
        pod_name: &'a str,
        port: u16,
    ) -> StreamFuture<'a, PortStreams> {
        Box::pin(async move {
            let target = self.pod_netns(namespace, pod_name).await?;
            // The message reaches the user as it is, after kubectl's own prefix.
            port_forward::open(target, &format!("{namespace}/{pod_name}"), port)
                .await
                .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
        })
    }

    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod_name: &'a str,
        container: &'a str,
        request: LogRequest,
    ) -> StreamFuture<'a, mpsc::Receiver<Bytes>> {
        Box::pin(async move {
            let p = self.client.get(&pod::RESOURCE, namespace, pod_name).await?;
            let uid = p
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let status = Self::status_of(&p, container);
            let restarts = status.and_then(|s| s["restartCount"].as_u64()).unwrap_or(0) as u32;
            let attempt = if request.previous {
                restarts.checked_sub(1).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
                    ))
                })?
            } else {
                restarts
            };
            let live = self
                .data_dir
                .join("logs")
                .join(format!("{namespace}_{pod_name}_{uid}"))
                .join(container)
                .join(format!("{attempt}.log"));
            let mut files = cri_log::rotated_files(&live);
            files.push(live);
            let opts = LogOptions {
                follow: request.follow && !request.previous,
                tail_lines: request.tail_lines.and_then(|n| usize::try_from(n).ok()),
                since: since(&request),
                timestamps: request.timestamps,
                limit_bytes: request.limit_bytes.and_then(|n| usize::try_from(n).ok()),
            };
            // Follow while the container runs: a poller keeps the flag current.
            let running = Arc::new(AtomicBool::new(opts.follow));
            if opts.follow {
                if let Some(id) = status.and_then(container_id) {
                    let (rt, flag) = (self.runtime.clone(), running.clone());
                    tokio::spawn(async move {
                        loop {
                            let alive = matches!(rt.state(&id).await, Ok(Some(s)) if s.state != ContainerState::Exited);
                            flag.store(alive, Ordering::SeqCst);
                            if !alive {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    });
                } else {
                    running.store(false, Ordering::SeqCst);
                }
            }
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                let flag = running.clone();
                if let Err(e) =
                    stream_logs(files, opts, tx, move || flag.load(Ordering::SeqCst)).await
                {
                    tracing::debug!(error = %e, "log stream ended");
                }
            });
            Ok(rx)
        })
    }

    fn attach<'a>(
        &'a self,
        namespace: &'a str,
        pod_name: &'a str,
        container: &'a str,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        Box::pin(self.attach_impl(namespace, pod_name, container, stdin, tty))
    }

    fn exec<'a>(
        &'a self,
        namespace: &'a str,
        pod_name: &'a str,
        container: &'a str,
        command: Vec<String>,
        stdin: bool,
        tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        Box::pin(async move {
            let id = self.running_id(namespace, pod_name, container).await?;
            let spec = ExecSpec {
                args: command,
                env: Vec::new(),
                cwd: None,
                tty,
            };
            let mut session = self
                .runtime
                .exec(&id, &spec)
                .await
                .map_err(ApiError::internal)?;
            let (out_tx, stdout) = mpsc::channel(32);
            let (err_tx, stderr) = mpsc::channel(32);
            let (exit_tx, exit) = oneshot::channel();
            let mut pumps: Vec<_> = [
                session
                    .stdout
                    .take()
                    .map(|o| tokio::spawn(pump(o, out_tx.clone()))),
                session.stderr.take().map(|e| tokio::spawn(pump(e, err_tx))),
            ]
            .into_iter()
            .flatten()
            .collect();
            let (stdin_tx, resize) = match session.console.take() {
                Some(console) => {
                    let console = Arc::new(console);
                    pumps.push(tokio::spawn(pump_console(console.clone(), out_tx)));
                    let (resize_tx, resize_rx) = mpsc::channel(4);
                    tokio::spawn(resize_console(console.clone(), resize_rx));
                    let stdin_tx = stdin.then(|| {
                        let (tx, rx) = mpsc::channel::<Bytes>(32);
                        tokio::spawn(feed_console(console, rx));
                        tx
                    });
                    (stdin_tx, Some(resize_tx))
                }
                None => {
                    drop(out_tx);
                    let stdin_tx = match (stdin, session.stdin.take()) {
                        (true, Some(mut child_in)) => {
                            let (tx, mut rx) = mpsc::channel::<Bytes>(32);
                            tokio::spawn(async move {
                                while let Some(chunk) = rx.recv().await {
                                    if child_in.write_all(&chunk).await.is_err() {
                                        break;
                                    }
                                }
                                // dropping the pipe sends EOF
                            });
                            Some(tx)
                        }
                        _ => None,
                    };
                    (stdin_tx, None)
                }
            };
            tokio::spawn(async move {
                let code = session.wait().await.unwrap_or(1);
                for p in pumps {
                    // A terminal's output ends when every holder of its slave has closed
                    // it; a background job left running in the container may hold it
                    // open, so its output is drained for a moment, not waited for.
                    let abort = p.abort_handle();
                    if tokio::time::timeout(CONSOLE_DRAIN, p).await.is_err() {
                        abort.abort();
                    }
                }
                let _ = exit_tx.send(code);
            });
            Ok(ExecStreams {
                stdin: stdin_tx,
                resize,
                stdout,
                stderr,
                exit,
            })
        })
    }
}

impl<C: Client> KubeletStreams<C> {
    /// Where connections to `namespace/pod_name`'s ports are made.
    async fn pod_netns(&self, namespace: &str, pod_name: &str) -> Result<PodNetns, ApiError> {
        let p = self.client.get(&pod::RESOURCE, namespace, pod_name).await?;
        if p.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true) {
            return Ok(PodNetns::Host);
        }
        let uid = p
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        // The uid names a file below the namespace directory: never a path of its own.
        let plain = !uid.is_empty()
            && uid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(ApiError::internal(format!(
                "pod {pod_name} has no usable uid {uid:?}"
            )));
        }
        Ok(PodNetns::Pinned(self.netns_dir.join(uid)))
    }

    /// The runtime id of `container` of `namespace/pod_name`, which must be running.
    async fn running_id(
        &self,
        namespace: &str,
        pod_name: &str,
        container: &str,
    ) -> Result<String, ApiError> {
        let p = self.client.get(&pod::RESOURCE, namespace, pod_name).await?;
        Self::status_of(&p, container)
            .filter(|s| s["state"].get("running").is_some())
            .and_then(container_id)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "container {container} is not valid for pod {pod_name}: it is not running"
                ))
            })
    }

    async fn attach_impl(
        &self,
        namespace: &str,
        pod_name: &str,
        container: &str,
        stdin: bool,
        tty: bool,
    ) -> Result<ExecStreams, ApiError> {
        let id = self.running_id(namespace, pod_name, container).await?;
        let connection = self
            .runtime
            .attach(&id, stdin)
            .await
            .map_err(ApiError::internal)?;
        let (reader, writer) = connection.into_split();
        let (out_tx, stdout) = mpsc::channel(32);
        let (err_tx, stderr) = mpsc::channel(32);
        let (exit_tx, exit) = oneshot::channel();
        let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(32);
        let (resize_tx, resize_rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let reading = async {
                read_attached(reader, out_tx, err_tx).await;
                let _ = exit_tx.send(0);
            };
            tokio::pin!(reading);
            tokio::select! {
                () = &mut reading => {}
                // Dropping the writing half would shut the connection down for writing,
                // which the supervisor takes for the client's end: keep it while reading.
                _writer = write_attached(writer, stdin.then_some(stdin_rx), resize_rx) => {
                    reading.await;
                }
            }
        });
        Ok(ExecStreams {
            stdin: stdin.then_some(stdin_tx),
            resize: tty.then_some(resize_tx),
            stdout,
            stderr,
            exit,
        })
    }
}

/// Relays an attached container's output frames until its supervisor closes the
/// connection (the container has ended) or the client has gone.
async fn read_attached(
    mut reader: tokio::net::unix::OwnedReadHalf,
    stdout: mpsc::Sender<Bytes>,
    stderr: mpsc::Sender<Bytes>,
) {
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => decoder.push(&buf[..n]),
        }
        loop {
            let sent = match decoder.next_frame() {
                Ok(Some(Frame::Stdout(b))) => stdout.send(b).await,
                Ok(Some(Frame::Stderr(b))) => stderr.send(b).await,
                Ok(Some(_)) => Ok(()),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad frame from a container supervisor");
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

/// Sends an attached client's input and sizes to the container's supervisor; the end of
/// its input is an empty stdin frame. Returns the writing half once there is nothing more
/// to send (`None` when the supervisor has gone).
async fn write_attached(
    mut writer: tokio::net::unix::OwnedWriteHalf,
    mut stdin: Option<mpsc::Receiver<Bytes>>,
    mut resize: mpsc::Receiver<TerminalSize>,
) -> Option<tokio::net::unix::OwnedWriteHalf> {
    let mut resize_open = true;
    while stdin.is_some() || resize_open {
        let frame = tokio::select! {
            b = async { stdin.as_mut()?.recv().await }, if stdin.is_some() => match b {
                Some(b) if b.is_empty() => continue,
                Some(b) => wire::encode_frame(Channel::Stdin, &b),
                None => {
                    stdin = None;
                    wire::encode_frame(Channel::Stdin, b"")
                }
            },
            s = resize.recv(), if resize_open => match s {
                Some(s) => wire::resize_frame(s),
                None => { resize_open = false; continue; }
            },
        };
        if writer.write_all(&frame).await.is_err() {
            return None;
        }
    }
    Some(writer)
}

/// How long output is still read after an exec's process has exited.
const CONSOLE_DRAIN: Duration = Duration::from_secs(2);

/// Copies the terminal's output to `to` until the terminal closes.
async fn pump_console(console: Arc<Console>, to: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match console.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Types what `rx` yields into the terminal.
async fn feed_console(console: Arc<Console>, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(chunk) = rx.recv().await {
        if console.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

/// Applies the client's terminal sizes to the terminal.
async fn resize_console(console: Arc<Console>, mut rx: mpsc::Receiver<TerminalSize>) {
    while let Some(size) = rx.recv().await {
        if let Err(e) = console.resize(size) {
            tracing::debug!(error = %e, "terminal resize failed");
        }
    }
}

async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, to: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_seconds_at_the_extremes_saturates() {
        let req = LogRequest {
            since_seconds: Some(i64::MAX),
            ..LogRequest::default()
        };
        let t = since(&req).expect("a time");
        assert!(t < chrono::Utc::now() - chrono::TimeDelta::days(365 * 99));
        let req = LogRequest {
            since_seconds: Some(10),
            ..LogRequest::default()
        };
        assert!(since(&req).expect("a time") < chrono::Utc::now());
    }

    #[tokio::test]
    async fn the_read_only_endpoints_answer_from_the_kubelets_stats() {
        let tmp = tempfile::tempdir().unwrap();
        let registry = crate::api::auth::service_account::test_registry(tmp.path()).await;
        let runtime = Arc::new(super::super::runtime::OciCliRuntime::new(
            super::super::runtime::RuntimeKind::Runc,
            &tmp.path().join("runtime"),
            "bramble".into(),
        ));
        let stats = Arc::new(NodeStats::default());
        let streams = KubeletStreams::new(
            crate::client::LocalClient::new(registry),
            tmp.path().to_path_buf(),
            runtime,
            tmp.path().join("netns"),
        )
        .with_stats(stats.clone());
        // one sample of this very host
        let cfg =
            crate::monitor::SamplerConfig::for_host("here", tmp.path().to_path_buf(), "none0");
        crate::monitor::sampler::Collector::new(cfg).sample(&stats);
        let streams: &dyn PodStreams = &streams;
        let summary = streams.node_get("/stats/summary").await.unwrap();
        assert_eq!(summary.content_type, "application/json");
        let v: Value = serde_json::from_slice(&summary.body).unwrap();
        assert_eq!(v["node"]["nodeName"], "here");
        assert!(v["node"]["memory"]["workingSetBytes"].as_u64() > Some(0));
        assert_eq!(v["pods"], serde_json::json!([]));
        let resource = streams.node_get("/metrics/resource").await.unwrap();
        let text = String::from_utf8(resource.body.to_vec()).unwrap();
        assert!(text.contains("\nresource_scrape_error 0\n"), "{text}");
        let cadvisor = streams.node_get("/metrics/cadvisor").await.unwrap();
        assert!(String::from_utf8_lossy(&cadvisor.body).contains("machine_cpu_cores "));
        assert_eq!(&streams.node_get("/healthz").await.unwrap().body[..], b"ok");
        assert_eq!(streams.node_get("/pods").await.unwrap_err().code, 404);
    }
}
