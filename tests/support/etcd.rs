//! A real etcd cluster on loopback for the tests of several servers on one datastore:
//! Debian's `etcd` (package `etcd-server`), each member on free client and peer ports with a
//! data directory of its own; a member can be killed (SIGKILL) and started again, and the
//! current leader is asked of the members themselves. Everything is killed and removed
//! when the cluster is dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, free_port};

/// One member.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A running etcd cluster.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until they have a leader.
    pub fn start(size: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let pid = std::process::id();
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}x{pid}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster { dir, members };
        for i in 0..size {
            cluster.launch(i, "new");
        }
        cluster.wait_leader();
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let data: PathBuf = self.dir.path().join(&self.members[i].name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                self.dir
                    .path()
                    .join(format!("{}.log", self.members[i].name)),
            )
            .expect("etcd log");
        let m = &mut self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                state,
            ])
            .args([
                "--initial-cluster-token",
                &format!("bramble-test-{}", std::process::id()),
            ])
            // Quick elections, so a killed leader is replaced within a second or two.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd (Debian package etcd-server)");
        m.child = Some(child);
    }

    /// `http://127.0.0.1:<port>` of every member, comma-separated, as
    /// `--datastore-endpoint` takes them.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the member that leads now, asked of the running members.
    pub fn leader(&self) -> Option<usize> {
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let Some(status) = post(m.client_port, "/v3/maintenance/status", "{}") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&status) else {
                continue;
            };
            let leader = v["leader"].as_str().unwrap_or_default().to_string();
            let me = v["header"]["member_id"].as_str().unwrap_or_default();
            if !leader.is_empty() && leader == me {
                return self.members.iter().position(|x| x.name == m.name);
            }
        }
        None
    }

    /// Waits until a running member leads.
    pub fn wait_leader(&self) -> usize {
        eventually("an etcd leader", || self.leader())
    }

    /// Kills member `i` with SIGKILL.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data directory.
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.launch(i, "existing");
    }

    /// The logs of every member, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                    .unwrap_or_default();
                format!("--- {}\n{log}", m.name)
            })
            .collect()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}

/// POSTs `body` to `127.0.0.1:port` over plain HTTP/1.1; the response body on 200.
fn post(port: u16, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, rest) = answer.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // The gateway may answer chunked; the JSON object is between the first '{' and last '}'.
    let start = rest.find('{')?;
    let end = rest.rfind('}')?;
    rest.get(start..=end).map(str::to_string)
}

/// Starts `count` servers listening on `host`, all with `flags` (which name the etcd
/// cluster): the first makes the cluster's certificates, the others start with a copy of its
/// `pki`, as a user adds a server.
pub fn start_servers(count: usize, host: &str, flags: &[String]) -> Vec<super::Cluster> {
    let first = super::Cluster::start_prepared_on(host, flags.to_vec(), |_| {});
    let pki = first.data_dir().join("pki");
    let mut servers = vec![first];
    for _ in 1..count {
        servers.push(super::Cluster::start_prepared_on(
            host,
            flags.to_vec(),
            |dir| copy_dir(&pki, &dir.join("pki")),
        ));
    }
    servers
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create pki copy");
    for entry in std::fs::read_dir(from).expect("read pki") {
        let entry = entry.expect("pki entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy pki file");
        }
    }
}

/// The server among `servers` whose log says it acquired a lease as `identity` (a Lease's
/// `holderIdentity`); the others' logs may name it too, as the holder they wait on.
pub fn server_holding(servers: &[super::Cluster], identity: &str) -> Option<usize> {
    let acquired = format!("identity={identity}");
    servers.iter().position(|s| {
        s.log()
            .lines()
            .any(|l| l.contains("acquired the lease") && l.contains(&acquired))
    })
}
