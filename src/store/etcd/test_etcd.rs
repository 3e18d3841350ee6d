//! Real etcd members for the tests: started on free loopback ports with a temporary data
//! directory, waited for until they serve, and killed (their directory removed) when the
//! guard drops, even when an assertion failed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::Gateway;
use super::wire::StatusResponse;
use super::{EtcdConfig, EtcdTls};

/// How long members get to start and elect a leader.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// `n` distinct free loopback ports (the kernel's choice, all held until every one is
/// chosen, then released for etcd to bind).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding a loopback port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("a bound port").port())
        .collect()
}

/// One member.
struct Member {
    name: String,
    client_url: String,
    child: Option<Child>,
}

/// An etcd cluster of one or more members.
pub(super) struct TestEtcd {
    members: Vec<Member>,
    /// Removed, with every member's data, when the guard drops (after the kills).
    _dir: tempfile::TempDir,
    tls: Option<EtcdTls>,
}

/// The members' TLS files: their serving certificate and key, and the CA their clients'
/// certificates must come from.
pub(super) struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca: std::path::PathBuf,
}

impl TestEtcd {
    /// A one-member cluster over plain HTTP.
    pub(super) async fn start() -> TestEtcd {
        Self::cluster(1, None).await
    }

    /// A cluster of `size` members; with `tls`, clients must speak TLS and present a
    /// certificate from its CA.
    pub(super) async fn cluster(size: usize, tls: Option<&TlsFiles>) -> TestEtcd {
        let dir = tempfile::Builder::new()
            .prefix(&format!("bramble-etcd-{}-", std::process::id()))
            .tempdir()
            .expect("temporary directory");
        let files = tls;
        let scheme = if files.is_some() { "https" } else { "http" };
        let ports = free_ports(2 * size);
        let peers: Vec<(String, String, String)> = (0..size)
            .map(|i| {
                (
                    format!("m{i}"),
                    format!("{scheme}://127.0.0.1:{}", ports[2 * i]),
                    format!("http://127.0.0.1:{}", ports[2 * i + 1]),
                )
            })
            .collect();
        let initial = peers
            .iter()
            .map(|(n, _, p)| format!("{n}={p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (name, client, peer) in &peers {
            let data = dir.path().join(name);
            let mut cmd = Command::new("etcd");
            cmd.args(["--name", name])
                .arg("--data-dir")
                .arg(&data)
                .args([
                    "--listen-client-urls",
                    client,
                    "--advertise-client-urls",
                    client,
                ])
                .args([
                    "--listen-peer-urls",
                    peer,
                    "--initial-advertise-peer-urls",
                    peer,
                ])
                .args([
                    "--initial-cluster",
                    &initial,
                    "--initial-cluster-state",
                    "new",
                ])
                .args([
                    "--initial-cluster-token",
                    &format!("bramble-{}", std::process::id()),
                ])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .args(["--log-level", "error", "--logger", "zap"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.path().join(format!("{name}.log")))
                        .map_or_else(|_| Stdio::null(), Stdio::from),
                );
            if let Some(f) = &files {
                cmd.arg("--cert-file")
                    .arg(&f.cert)
                    .arg("--key-file")
                    .arg(&f.key)
                    .arg("--trusted-ca-file")
                    .arg(&f.ca)
                    .arg("--client-cert-auth");
            }
            let child = cmd
                .spawn()
                .expect("starting etcd (apt-get install etcd-server)");
            members.push(Member {
                name: name.clone(),
                client_url: client.clone(),
                child: Some(child),
            });
        }
        TestEtcd {
            members,
            _dir: dir,
            tls: None,
        }
    }

    /// Client settings for every member, with the test's TLS files.
    pub(super) fn config(&self) -> EtcdConfig {
        let mut config =
            EtcdConfig::new(self.members.iter().map(|m| m.client_url.clone()).collect());
        config.tls = self.tls.clone();
        config.prefix = format!("/bramble-test-{}/", std::process::id());
        config
    }

    /// Sets the TLS files clients use.
    pub(super) fn with_client_tls(mut self, tls: EtcdTls) -> TestEtcd {
        self.tls = Some(tls);
        self
    }

    /// Waits until every member answers its status and one of them leads.
    pub(super) async fn ready(mut self) -> TestEtcd {
        let deadline = Instant::now() + READY_WITHIN;
        for i in 0..self.members.len() {
            loop {
                if self.status(i).await.is_some_and(|s| s.leader != 0) {
                    break;
                }
                let exited = self.members[i]
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some());
                if exited || Instant::now() >= deadline {
                    let name = &self.members[i].name;
                    let log = std::fs::read_to_string(self._dir.path().join(format!("{name}.log")));
                    panic!(
                        "etcd member {name} exited or did not become ready within {READY_WITHIN:?}; its log:\n{}",
                        log.unwrap_or_default()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self
    }

    /// Member `i`'s status, when it answers.
    async fn status(&self, i: usize) -> Option<StatusResponse> {
        let mut config = self.config();
        config.endpoints = vec![self.members[i].client_url.clone()];
        let gateway = Gateway::new(&config).ok()?;
        gateway
            .call("/v3/maintenance/status", &serde_json::json!({}))
            .await
            .ok()
    }

    /// The index of the member that leads now.
    pub(super) async fn leader(&self) -> usize {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            for i in 0..self.members.len() {
                if let Some(s) = self.status(i).await {
                    if s.leader != 0 && s.leader == s.header.member_id {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no etcd member leads");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills member `i` with SIGKILL.
    pub(super) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
