//! `kubectl logs` and `kubectl exec` end to end against the API server run in-process with a
//! `PodStreams` that reads real CRI log files (through the kubelet's log reader) and runs real
//! processes on the host, so the whole path — routing, parameters, container defaulting,
//! the streamed log body and the WebSocket remotecommand protocol — is driven by stock kubectl.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bramble::api::pod_streams::{ExecStreams, LogRequest, PodStreams, StreamFuture};
use bramble::api::status::ApiError;
use bramble::control_plane::{self, ServerConfig};
use bramble::kubelet::logs::{stream_logs, LogOptions};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const NODE: &str = "board-1";

/// Serves logs from `DIR/<ns>_<pod>/<container>/0.log` and runs exec commands on the host.
struct HostStreams {
    logs: PathBuf,
    running: Arc<AtomicBool>,
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
            break;
        }
    }
}

impl PodStreams for HostStreams {
    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        request: LogRequest,
    ) -> StreamFuture<'a, mpsc::Receiver<Bytes>> {
        Box::pin(async move {
            let file = self
                .logs
                .join(format!("{namespace}_{pod}"))
                .join(container)
                .join("0.log");
            let opts = LogOptions {
                follow: request.follow,
                tail_lines: request.tail_lines.map(|n| n as usize),
                since: None,
                timestamps: request.timestamps,
                limit_bytes: request.limit_bytes.map(|n| n as usize),
            };
            let (tx, rx) = mpsc::channel(16);
            let running = self.running.clone();
            tokio::spawn(async move {
                let _ =
                    stream_logs(vec![file], opts, tx, move || running.load(Ordering::SeqCst)).await;
            });
            Ok(rx)
        })
    }

    fn attach<'a>(
        &'a self,
        _namespace: &'a str,
        _pod: &'a str,
        _container: &'a str,
        _stdin: bool,
        _tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        Box::pin(async {
            Err(ApiError::bad_request(
                "these host processes have no stdio to attach to",
            ))
        })
    }

    fn exec<'a>(
        &'a self,
        _namespace: &'a str,
        _pod: &'a str,
        _container: &'a str,
        command: Vec<String>,
        stdin: bool,
        _tty: bool,
    ) -> StreamFuture<'a, ExecStreams> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| ApiError::internal(format!("starting {command:?}: {e}")))?;
            let (out_tx, stdout) = mpsc::channel(16);
            let (err_tx, stderr) = mpsc::channel(16);
            let (exit_tx, exit) = oneshot::channel();
            tokio::spawn(pump(child.stdout.take().expect("piped stdout"), out_tx));
            tokio::spawn(pump(child.stderr.take().expect("piped stderr"), err_tx));
            let stdin = child.stdin.take().map(|mut pipe| {
                let (tx, mut rx) = mpsc::channel::<Bytes>(16);
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if pipe.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                });
                tx
            });
            tokio::spawn(async move {
                let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
                let _ = exit_tx.send(code);
            });
            Ok(ExecStreams {
                stdin,
                resize: None,
                stdout,
                stderr,
                exit,
            })
        })
    }
}

/// The API server on a free loopback port, stopped (and its thread joined) on drop.
struct Server {
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    running: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    fn start() -> Server {
        Self::start_with(true)
    }

    /// A server with (`kubelet`) or without a `PodStreams` registered.
    fn start_with(kubelet: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let running = Arc::new(AtomicBool::new(true));
        let streams = HostStreams {
            logs: dir.path().join("logs"),
            running: running.clone(),
        };
        let cfg = ServerConfig {
            data_dir: dir.path().join("data"),
            listen: format!("127.0.0.1:{port}").parse().expect("address"),
            node_name: NODE.into(),
            watch_history: bramble::store::HistoryLimits {
                entries: 1000,
                bytes: bramble::store::HistoryLimits::DEFAULT_BYTES,
                age: bramble::store::HistoryLimits::DEFAULT_AGE,
            },
            store_quota_bytes: bramble::store::DEFAULT_QUOTA_BYTES,
            datastore: None,
            kubelet: None,
            host_path_policy: bramble::host_path_policy::HostPathPolicy::allow_all(),
            cluster_cidr: "10.42.0.0/16".parse().expect("cidr"),
            node_monitor_grace: Duration::from_secs(3600),
            node_cert_lifetime: Duration::from_secs(3600),
            connection_limits: Default::default(),
            request_limits: Default::default(),
            pod_security: Default::default(),
        };
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(control_plane::run_with_pod_streams(
                cfg,
                kubelet.then(|| Arc::new(streams) as Arc<dyn PodStreams>),
                token,
            ))
            .expect("server runs");
        });
        let server = Server {
            dir,
            shutdown,
            thread: Some(thread),
            running,
        };
        let start = Instant::now();
        while !server
            .kubectl(&["get", "--raw", "/readyz"])
            .status
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server not ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data/admin.kubeconfig")
    }

    fn kubectl_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl on PATH");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(input).expect("write kubectl stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(args, None)
    }

    fn write_log(&self, pod: &str, container: &str, lines: &[(&str, &str)]) {
        let dir = self
            .dir
            .path()
            .join(format!("logs/default_{pod}/{container}"));
        std::fs::create_dir_all(&dir).expect("log dir");
        let text: String = lines
            .iter()
            .map(|(time, line)| format!("{time} stdout F {line}\n"))
            .collect();
        append(&dir.join("0.log"), &text);
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("append log");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn create_pod(s: &Server, name: &str, containers: &[&str], node: Option<&str>) {
    let containers: Vec<serde_json::Value> = containers
        .iter()
        .map(|c| serde_json::json!({"name": c, "image": "busybox"}))
        .collect();
    let mut pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": containers}});
    if let Some(n) = node {
        pod["spec"]["nodeName"] = serde_json::json!(n);
    }
    let out = s.kubectl_with(&["create", "-f", "-"], Some(pod.to_string().as_bytes()));
    assert!(out.status.success(), "create pod: {}", text(&out.stderr));
}

#[test]
fn kubectl_logs_reads_container_logs() {
    let s = Server::start();
    create_pod(&s, "web", &["app", "sidecar"], Some(NODE));
    s.write_log(
        "web",
        "app",
        &[
            ("2024-05-01T10:00:00.000000001Z", "one"),
            ("2024-05-01T10:00:01.000000002Z", "two"),
            ("2024-05-01T10:00:02.000000003Z", "three"),
        ],
    );

    let out = s.kubectl(&["logs", "web", "-c", "app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\nthree\n");

    let out = s.kubectl(&["logs", "web", "-c", "app", "--tail=2", "--timestamps"]);
    assert_eq!(
        text(&out.stdout),
        "2024-05-01T10:00:01.000000002Z two\n2024-05-01T10:00:02.000000003Z three\n"
    );

    // Two containers and none named: upstream's message, kubectl's exit code 1.
    let out = s.kubectl(&["get", "--raw", "/api/v1/namespaces/default/pods/web/log"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "a container name must be specified for pod web, choose one of: [app sidecar]"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = s.kubectl(&["logs", "web", "-c", "nope"]);
    assert!(text(&out.stderr).contains("container nope is not valid for pod web"));

    // -f streams new lines and ends when the container stops.
    let mut follow = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(s.kubeconfig())
        .args(["logs", "-f", "web", "-c", "app", "--tail=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = BufReader::new(follow.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    lines.read_line(&mut line).expect("first followed line");
    assert_eq!(line, "three\n");
    s.write_log("web", "app", &[("2024-05-01T10:00:03.000000000Z", "four")]);
    line.clear();
    lines.read_line(&mut line).expect("appended line");
    assert_eq!(line, "four\n");
    s.running.store(false, Ordering::SeqCst);
    let mut rest = String::new();
    lines.read_to_string(&mut rest).expect("stream ends");
    assert_eq!(rest, "");
    let out = follow.wait_with_output().expect("kubectl logs -f ends");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn kubectl_exec_runs_commands_with_streams_and_exit_codes() {
    let s = Server::start();
    create_pod(&s, "box", &["main", "helper"], Some(NODE));

    let out = s.kubectl(&[
        "exec",
        "box",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(text(&out.stdout), "out\n");
    assert!(text(&out.stderr).contains("err\n"), "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    let out = s.kubectl_with(
        &[
            "exec",
            "-i",
            "box",
            "-c",
            "helper",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z",
        ],
        Some(b"hello from stdin\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "HELLO FROM STDIN\n");

    let out = s.kubectl(&["exec", "box", "-c", "nope", "--", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("container nope is not valid for pod box"),
        "{}",
        text(&out.stderr)
    );

    create_pod(&s, "pending", &["main"], None);
    let out = s.kubectl(&["exec", "pending", "--", "true"]);
    assert!(
        text(&out.stderr).contains("pod pending does not have a host assigned"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn without_a_kubelet_logs_and_exec_name_the_node() {
    let s = Server::start_with(false);
    create_pod(&s, "lonely", &["main"], Some(NODE));
    for args in [
        &["logs", "lonely"][..],
        &["exec", "lonely", "--", "true"][..],
    ] {
        let out = s.kubectl(args);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("no kubelet is serving node \"board-1\""),
            "{err}"
        );
    }
    // Unscheduled pods have no log yet: an empty answer, as upstream.
    create_pod(&s, "waiting", &["main"], None);
    let out = s.kubectl(&["logs", "waiting"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    // Nor anything to attach to: upstream's `AttachLocation` error.
    let out = s.kubectl(&["attach", "waiting"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pod waiting does not have a host assigned"),
        "{}",
        text(&out.stderr)
    );
}
