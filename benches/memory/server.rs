//! The server under measurement: the real `bramble server --no-agent` binary built by this
//! `cargo bench`, started as a child process in its own data directory on a free loopback
//! port, so its resident set holds the control plane alone — no kubelet, no client. Its
//! memory and CPU time are read from `/proc/PID/status` and `/proc/PID/stat`. With
//! `BRAMBLE_BENCH_WRAPPER` set (e.g. `heaptrack -o target/bench/server`), the server runs
//! under that command, for a heap profile of the same workload; the figures are then the
//! wrapper's. `BRAMBLE_BENCH_BINARY` names another `bramble` to measure (an older build, for
//! a before-and-after comparison with the same workload).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bramble::pki::kubeconfig::Kubeconfig;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::report::Reading;

/// How long the server may take to answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The unit of `/proc/PID/stat` times: `USER_HZ`, 100 on every Linux architecture Bramble
/// runs on (x86_64, arm, aarch64).
const USER_HZ: u64 = 100;

/// A running `bramble server`; killed when dropped.
pub struct Server {
    child: Child,
    data_dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    url: String,
}

impl Server {
    /// Starts the server with its state in `dir/data` and its log in `dir/server.log`, and
    /// waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, flags: &[&str]) -> anyhow::Result<(Server, Arc<HttpClient>)> {
        let data_dir = dir.join("data");
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log")).context("server log")?;
        let bramble = crate::machine::bramble_binary();
        let wrapper = std::env::var("BRAMBLE_BENCH_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(&bramble);
                c
            }
            None => Command::new(&bramble),
        };
        let child = command
            .arg("server")
            .arg("--no-agent")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(flags)
            // Measure what users run: the default log level.
            .env_remove("BRAMBLE_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting bramble server")?;
        let url = format!("https://127.0.0.1:{port}");
        let mut server = Server {
            child,
            data_dir,
            url,
        };
        let client = server.wait_ready().await?;
        Ok((server, client))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<Arc<HttpClient>> {
        let kubeconfig = self.data_dir.join("admin.kubeconfig");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("bramble server exited early with {status}");
            }
            if let Ok(kc) = Kubeconfig::load(&kubeconfig) {
                let client = HttpClient::new(&kc)?;
                if let Ok(reply) = client.request(Method::GET, "/readyz", &[], vec![]).await {
                    if reply.status == StatusCode::OK {
                        return Ok(client);
                    }
                }
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("bramble server not ready after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where the server keeps its state.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's resident set (`VmRSS`), its anonymous part (`RssAnon`: the heap and
    /// stacks, without the executable's pages) and its peak (`VmHWM`).
    pub fn memory(&self) -> anyhow::Result<Reading> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Reading {
            rss_kib: field("VmRSS:")?,
            anon_kib: field("RssAnon:")?,
            peak_kib: field("VmHWM:")?,
            settled: false,
        })
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state is field 3, utime 14 and stime 15 (proc(5)).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i - 3)
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("no field {i} in /proc/{pid}/stat"))
        };
        let total = ticks(14)? + ticks(15)?;
        Ok(Duration::from_millis(total * 1000 / USER_HZ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Sends `body` (JSON) and returns the object the server answered with; fails on any status
/// but 2xx.
pub async fn send(
    client: &HttpClient,
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let reply = client
        .request(
            method.clone(),
            path,
            &[
                ("content-type", content_type),
                ("accept", "application/json"),
            ],
            serde_json::to_vec(body)?,
        )
        .await
        .with_context(|| format!("{method} {path}"))?;
    if !reply.status.is_success() {
        bail!(
            "{method} {path}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    serde_json::from_slice(&reply.body).with_context(|| format!("{method} {path}: reply"))
}
