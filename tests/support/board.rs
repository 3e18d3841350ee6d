//! A one-board cluster with its kubelet: a real `bramble server` whose `docker.io` mirror is
//! a local docker-registry holding images the test builds from busybox-static, on its own
//! bridge and pod range. Needs root.

use std::path::Path;

use super::registry::{build_busybox_image, require_root, Registry};
use super::{agent_flags, eventually, Cluster};

/// A default command that idles until SIGTERM, for test images.
pub const IDLE: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

/// Removes the node bridge and the nftables tables (the pod network's and the proxy's) a
/// test kubelet made, even when the test fails.
pub struct NodeNetwork(pub String);

impl Drop for NodeNetwork {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
        for table in [self.0.clone(), format!("{}-proxy", self.0)] {
            let _ = std::process::Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .output();
        }
    }
}

/// The server and what it needs; dropped in field order: server, registry, files, network.
pub struct Board {
    pub cluster: Cluster,
    pub registry: Registry,
    pub work: tempfile::TempDir,
    _network: NodeNetwork,
}

impl Board {
    /// Starts a board on `runtime` (`builtin` or `runc`) whose registry holds `images`:
    /// `(repository, default command)` pairs such as `("library/redis", &["sleep", "9"])`.
    pub fn start(runtime: &str, tag: u8, images: &[(&str, &[&str])]) -> Board {
        Board::start_with(runtime, tag, images, &[])
    }

    /// [`Board::start`] with extra `bramble server` flags.
    pub fn start_with(runtime: &str, tag: u8, images: &[(&str, &[&str])], extra: &[&str]) -> Board {
        require_root();
        let network = NodeNetwork(agent_flags(tag)[1].clone());
        let work = tempfile::tempdir().unwrap();
        let registry = Registry::start(work.path());
        for (repo, cmd) in images {
            build_busybox_image(work.path(), registry.port, repo, cmd);
        }
        let registries = work.path().join("registries.yaml");
        write_mirror(&registries, registry.port);
        let mut flags = agent_flags(tag);
        flags.extend([
            "--runtime".into(),
            runtime.into(),
            "--registries".into(),
            registries.display().to_string(),
        ]);
        flags.extend(extra.iter().map(|f| f.to_string()));
        let cluster = Cluster::start_with_agent(flags);
        Board {
            cluster,
            registry,
            work,
            _network: network,
        }
    }

    /// Waits until the board's own node reports Ready.
    pub fn wait_node_ready(&self) {
        eventually("the server's own node to be Ready", || {
            let out = self.cluster.kubectl(&[
                "get",
                "node",
                "test-node",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
        });
    }
}

impl Drop for Board {
    /// Deletes every pod so the kubelet stops its containers and removes their mounts and
    /// namespaces; containers outlive the server by design, so killing it is not enough.
    fn drop(&mut self) {
        self.cluster.delete_all_pods();
    }
}

/// A k3s-style `registries.yaml` sending `docker.io` to the local registry over plain HTTP.
fn write_mirror(path: &Path, port: u16) {
    write_mirror_at(path, "127.0.0.1", port);
}

/// [`write_mirror`] for a registry listening on `host`.
pub fn write_mirror_at(path: &Path, host: &str, port: u16) {
    let mirror = format!("mirrors:\n  docker.io:\n    endpoint: [\"http://{host}:{port}\"]\n");
    std::fs::write(path, mirror).unwrap();
}

/// The pids of shells whose command line holds `marker` (one per running container).
pub fn shells_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("sh"))
            && args.iter().any(|a| a.contains(marker))
        {
            out.push(pid);
        }
    }
    out
}
