//! A small LAN of boards on one machine: a bridge in this machine's network namespace stands
//! for the switch, and each board is a network namespace of its own plugged into it, so
//! every node (the server's kubelet included) has its own routes, nftables tables and Service
//! proxy, as separate boards would. This machine sits on the LAN too (`.254`), as a laptop
//! does: it runs kubectl, the registry, and connects to node ports and load balancers from
//! outside the nodes. Needs root. Every object carries this process's id and goes on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::board::IDLE;
use super::joined::Agent;
use super::registry::{build_busybox_image_at, require_root, Registry};
use super::{eventually, Cluster};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The switch and the namespaces plugged into it.
pub struct Switch {
    /// The bridge on this machine.
    pub bridge: String,
    /// The first three octets of the LAN (`/24`).
    pub prefix: String,
    /// The namespaces, board 1 first.
    pub netns: Vec<String>,
}

impl Switch {
    /// A LAN of `boards` namespaces; `tag` keeps tests of one process apart.
    pub fn new(tag: u8, boards: usize) -> Switch {
        let pid = std::process::id();
        let bridge = format!("lan{}x{tag}", pid % 100000);
        let prefix = format!("10.{}.{}", 230 + tag % 8, pid % 250);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{prefix}.254/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut switch = Switch {
            bridge,
            prefix,
            netns: Vec::new(),
        };
        for i in 1..=boards {
            let ns = format!("{}b{i}", switch.bridge);
            let port = format!("{}p{i}", switch.bridge);
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            ip(&["netns", "add", &ns]);
            switch.netns.push(ns.clone());
            ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["link", "set", &port, "master", &switch.bridge, "up"]);
            let addr = format!("{}/24", switch.board_ip(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let gw = switch.host_ip();
            ip(&["-n", &ns, "route", "add", "default", "via", &gw]);
        }
        switch
    }

    /// Board `i`'s address (1-based).
    pub fn board_ip(&self, i: usize) -> String {
        format!("{}.{i}", self.prefix)
    }

    /// This machine's address on the LAN.
    pub fn host_ip(&self) -> String {
        format!("{}.254", self.prefix)
    }

    /// Board `i`'s namespace path.
    pub fn netns_path(&self, i: usize) -> String {
        format!("/run/netns/{}", self.netns[i - 1])
    }
}

impl Drop for Switch {
    /// Kills what still runs on the boards, then removes them and the bridge.
    fn drop(&mut self) {
        for ns in &self.netns {
            let pids = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// A server board and agent boards on a [`Switch`]; dropped in field order: pods first
/// (while the kubelets run), then agents, server, registry, files, switch.
pub struct Lan {
    pub agents: Vec<Agent>,
    pub cluster: Cluster,
    pub registry: Registry,
    pub work: tempfile::TempDir,
    pub switch: Switch,
}

/// The image every pod of a LAN test runs: busybox, idle by default.
pub const IMAGE: &str = "busybox";

impl Lan {
    /// The server on board 1 (node `test-node`) and `agents` joined agents (`board-2`, …),
    /// all Ready.
    pub fn start(tag: u8, agents: usize) -> Lan {
        require_root();
        let switch = Switch::new(tag, agents + 1);
        let work = tempfile::tempdir().expect("temp dir");
        let host = switch.host_ip();
        let registry = Registry::start_on(work.path(), &host);
        build_busybox_image_at(work.path(), &host, registry.port, "library/busybox", IDLE);
        let registries = work.path().join("registries.yaml");
        super::board::write_mirror_at(&registries, &host, registry.port);
        let flags = vec![
            "--cluster-cidr".into(),
            format!("10.{}.0.0/16", 160 + tag % 8),
            "--registries".into(),
            registries.display().to_string(),
        ];
        let cluster = Cluster::start_in_netns(&switch.netns_path(1), &switch.board_ip(1), flags);
        let token = std::fs::read_to_string(cluster.data_dir().join("join-token"))
            .expect("join token")
            .trim()
            .to_string();
        let url = format!("https://{}:{}", switch.board_ip(1), cluster.port);
        let mut started = Vec::new();
        for i in 0..agents {
            let name = format!("board-{}", i + 2);
            let mut agent = Agent::new(
                &switch.netns_path(i + 2),
                &url,
                &name,
                &registries,
                work.path(),
            );
            agent.start(&["--token", &token]);
            started.push(agent);
        }
        let lan = Lan {
            agents: started,
            cluster,
            registry,
            work,
            switch,
        };
        let mut nodes = vec!["test-node".to_string()];
        nodes.extend((0..agents).map(|i| format!("board-{}", i + 2)));
        for node in nodes {
            eventually(&format!("node {node} to be Ready"), || {
                let ready = lan.cluster.jsonpath(
                    &["node", &node],
                    "{.status.conditions[?(@.type==\"Ready\")].status}",
                );
                (ready == "True").then_some(())
            });
        }
        lan
    }

    /// Runs `cmd` in pod `pod` (`kubectl exec`): (success, stdout and stderr).
    pub fn exec(&self, pod: &str, cmd: &str) -> (bool, String) {
        let out = self
            .cluster
            .kubectl(&["exec", pod, "--", "/bin/sh", "-c", cmd]);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Runs `args` in board `i`'s namespace from this machine (`ip netns exec`).
    pub fn on_board(&self, i: usize, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.switch.netns[i - 1]])
            .args(args)
            .output()
            .expect("run in the board's namespace");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// The data directory of board `i`'s Bramble (the server's for board 1).
    pub fn data_dir(&self, i: usize) -> PathBuf {
        if i == 1 {
            self.cluster.data_dir()
        } else {
            self.agents[i - 2].data_dir.clone()
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.cluster.delete_all_pods();
    }
}

/// One HTTP GET of `/` from this machine to `ip:port`, the body, or `None` when the
/// connection fails or nothing comes back within two seconds.
pub fn http_get(ip: &str, port: u16) -> Option<String> {
    http_get_path(ip, port, "/")
}

/// One HTTP GET of `path` from this machine to `ip:port`, as [`http_get`] (the body of a
/// CGI script's answer too).
pub fn http_get_path(ip: &str, port: u16, path: &str) -> Option<String> {
    let addr: Ipv4Addr = ip.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let _ = s.shutdown(Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    // A CGI script's headers end with a bare blank line, which busybox httpd passes on.
    let (_, body) = out
        .split_once("\r\n\r\n")
        .or_else(|| out.split_once("\n\n"))?;
    Some(body.trim().to_string())
}
