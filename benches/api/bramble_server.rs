//! The Bramble server under test: the real `bramble server` binary built by this `cargo bench`,
//! started as a child process with default settings (durable writes, `info` logs) in its own
//! data directory on a free loopback port, plus whatever flags a bench adds (the pod bench
//! gives its kubelet a private bridge and registry mirror). A separate process keeps the
//! client's CPU and memory out of the server's resident-memory figure. Shared by
//! `benches/api` and `benches/pods`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bramble::pki::kubeconfig::Kubeconfig;
use http::{Method, StatusCode};

/// The server's node name (the kubelet registers its board under it).
pub const NODE_NAME: &str = "bench-node";

/// How long the server may take to answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `bramble server`; killed when dropped.
pub struct BrambleServer {
    child: Child,
    data_dir: PathBuf,
}

impl BrambleServer {
    /// Starts the server with its state in `dir/data` and its log in `dir/server.log`, and
    /// waits until `/readyz` answers 200.
    pub async fn start(dir: &Path) -> anyhow::Result<(BrambleServer, Arc<HttpClient>)> {
        Self::start_with(dir, &[]).await
    }

    /// [`BrambleServer::start`] with extra `bramble server` flags.
    pub async fn start_with(
        dir: &Path,
        flags: &[String],
    ) -> anyhow::Result<(BrambleServer, Arc<HttpClient>)> {
        let data_dir = dir.join("data");
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log")).context("server log")?;
        let child = Command::new(crate::machine::bramble_binary())
            .arg("server")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--node-name", NODE_NAME])
            .args(flags)
            // Measure what users run: the default log level.
            .env_remove("BRAMBLE_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting bramble server")?;
        let mut server = BrambleServer { child, data_dir };
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server keeps its sled store.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

impl Drop for BrambleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
