//! A one-board cluster for the benchmark: the real `bramble server` of this build with its
//! kubelet on a private bridge and pod range, pulling `docker.io` images through a mirror
//! that is a `docker-registry` on loopback holding a busybox-static test image. Shutting a
//! board down deletes its pods, stops the server, removes the bridge and nftables table and
//! reports anything left behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bramble::kubelet::runtime::cgroup;
use http::{Method, StatusCode};

use crate::bramble_server::{BrambleServer, NODE_NAME};
use crate::pods;
use crate::registry::{build_busybox_image, Registry};

/// The node bridge of every benchmark board (one board runs at a time).
pub const BRIDGE: &str = "brbench0";
/// The pod range on that bridge.
pub const POD_CIDR: &str = "10.88.0.0/24";
/// How long the node may take to register and report Ready, and pods to go away.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// The local registry with the bench image, and the `registries.yaml` pointing at it.
pub struct Images {
    _registry: Registry,
    /// Where the OCI layout (`oci/`) the image was built in lives.
    pub work: PathBuf,
    registries_file: PathBuf,
}

impl Images {
    /// Starts a registry under `dir` and pushes the bench image to it.
    pub fn prepare(dir: &Path) -> anyhow::Result<Images> {
        std::fs::create_dir_all(dir)?;
        let registry = Registry::start(dir);
        build_busybox_image(dir, registry.port, pods::IMAGE_REPO, pods::COMMAND);
        let registries_file = dir.join("registries.yaml");
        let mirror = format!(
            "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:{}\"]\n",
            registry.port
        );
        std::fs::write(&registries_file, mirror).context("writing registries.yaml")?;
        Ok(Images {
            _registry: registry,
            work: dir.to_path_buf(),
            registries_file,
        })
    }

    /// The image in the OCI layout, as `umoci --image` names it.
    pub fn oci_reference(&self) -> String {
        format!("oci:{}", pods::IMAGE_REPO.replace('/', "-"))
    }
}

/// A running server with its kubelet.
pub struct Board {
    server: BrambleServer,
    /// The admin client.
    pub client: Arc<HttpClient>,
    data_dir: PathBuf,
    uids: Vec<String>,
}

impl Board {
    /// Starts a server in `dir` running pods with `runtime` (`builtin` or `runc`) and waits
    /// until its own node is Ready.
    pub async fn start(dir: &Path, runtime: &str, images: &Images) -> anyhow::Result<Board> {
        std::fs::create_dir_all(dir)?;
        let flags: Vec<String> = [
            "--bridge",
            BRIDGE,
            "--pod-cidr",
            POD_CIDR,
            "--runtime",
            runtime,
            "--registries",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([images.registries_file.display().to_string()])
        .collect();
        let (server, client) = match BrambleServer::start_with(dir, &flags).await {
            Ok(started) => started,
            Err(e) => {
                remove_network();
                return Err(e);
            }
        };
        let board = Board {
            server,
            client,
            data_dir: dir.join("data"),
            uids: Vec::new(),
        };
        if let Err(e) = board.wait_node_ready().await {
            drop(board);
            remove_network();
            return Err(e);
        }
        Ok(board)
    }

    async fn wait_node_ready(&self) -> anyhow::Result<()> {
        let path = format!("/api/v1/nodes/{NODE_NAME}");
        let start = Instant::now();
        loop {
            if let Ok(reply) = self.client.request(Method::GET, &path, &[], vec![]).await {
                let node = reply.json();
                let ready = node["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
                if reply.status == StatusCode::OK && ready {
                    return Ok(());
                }
            }
            if start.elapsed() > SETTLE_LIMIT {
                bail!("node {NODE_NAME} not Ready after {SETTLE_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The admin kubeconfig the server wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("admin.kubeconfig")
    }

    /// The server's process id.
    pub fn server_pid(&self) -> u32 {
        self.server.pid()
    }

    /// Creates a bench pod through the API.
    pub async fn create(&mut self, name: &str) -> Result<(), String> {
        let uid = pods::create(&self.client, name).await?;
        self.uids.push(uid);
        Ok(())
    }

    /// Process ids of this board's per-container supervisors (`bramble runtime shim`).
    pub fn supervisors(&self) -> Vec<u32> {
        let needle = self.data_dir.display().to_string();
        processes()
            .into_iter()
            .filter(|(_, args)| {
                args.windows(2).any(|w| w[0] == "runtime" && w[1] == "shim")
                    && args.iter().any(|a| a.contains(&needle))
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Deletes every pod left, waits for them to be gone, stops the server and removes the
    /// node network; returns what was left behind (nothing, normally).
    pub async fn shut_down(self) -> Vec<String> {
        let mut left = Vec::new();
        if let Err(e) = self.delete_all().await {
            left.push(format!("pods: {e}"));
        }
        drop(self.server);
        remove_network();
        left.extend(leftovers(&self.data_dir, &self.uids));
        left
    }

    async fn delete_all(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let reply = self
                .client
                .request(Method::GET, &pods::collection_path(), &[], vec![])
                .await?;
            let list = reply.json();
            let names: Vec<String> = list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                return Ok(());
            }
            if start.elapsed() > SETTLE_LIMIT {
                bail!("{} pods still present after {SETTLE_LIMIT:?}", names.len());
            }
            for name in &names {
                pods::delete(&self.client, name)
                    .await
                    .map_err(anyhow::Error::msg)?;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Removes the node bridge and the nftables table the kubelet made: it removes them only
/// when a node is uninstalled, not when the server stops.
fn remove_network() {
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", BRIDGE])
        .output();
}

/// Processes, mounts, namespaces, cgroups and network the board's kubelet should have
/// removed (the bridge and nftables table are the bench's to remove, and it just did).
fn leftovers(data_dir: &Path, uids: &[String]) -> Vec<String> {
    let needle = data_dir.display().to_string();
    let mut left: Vec<String> = processes()
        .into_iter()
        .filter(|(_, args)| args.iter().any(|a| a.contains(&needle)))
        .map(|(pid, args)| format!("process {pid}: {}", args.join(" ")))
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&needle) || uids.iter().any(|u| l.contains(u.as_str())))
            .map(|l| format!("mount: {l}")),
    );
    for uid in uids {
        for dir in ["/run/bramble/netns", "/run/bramble/pods"] {
            let path = Path::new(dir).join(uid);
            if path.exists() {
                left.push(format!("{} still exists", path.display()));
            }
        }
        let pod_cgroup = cgroup::pod_cgroup_path(uid);
        if cgroup::controller_dir(&pod_cgroup, "memory").exists() {
            // Empty directories, but thousands of them after a few runs: remove them.
            let _ = cgroup::remove_pod(uid);
            left.push(format!("cgroup {pod_cgroup} still existed (removed now)"));
        }
    }
    let bridge = Command::new("ip").args(["link", "show", BRIDGE]).output();
    if bridge.is_ok_and(|o| o.status.success()) {
        left.push(format!("bridge {BRIDGE} still exists"));
    }
    let table = Command::new("nft")
        .args(["list", "table", "ip", BRIDGE])
        .output();
    if table.is_ok_and(|o| o.status.success()) {
        left.push(format!("nftables table ip {BRIDGE} still exists"));
    }
    left
}

/// Every process's id and command line.
fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let args = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}
