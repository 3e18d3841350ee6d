//! A board behind NAT, as one on a 4G router at another site: its agent reaches the server,
//! the server cannot dial the board's kubelet port, and `kubectl logs -f`, `kubectl exec`
//! with stdin, `kubectl port-forward` and the node's `stats/summary` through `nodes/proxy`
//! all work through the tunnel the agent keeps open. With `--no-tunnel` the same board is out
//! of reach again. Needs root, nftables and the board tests' Debian packages.
//!
//! The site is two network namespaces: a router, linked to this machine, that masquerades
//! what the board sends (an nftables rule in the router's namespace), and the board behind
//! it. The board's address lies inside the subnet of this machine's link to the router, so
//! this machine's packets for it stay on that link, where the router, which does not own
//! the address, never answers for it: the server has no way back to the board.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support;

use support::board::{write_mirror_at, IDLE};
use support::joined::{pod_on, Agent, BOARD};
use support::registry::{build_busybox_image_at, require_root, Registry};
use support::{eventually, Cluster};

/// This story's e2e tag (210-219 are the tunnel's).
const TAG: u8 = 210;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The router's and the board's namespaces and this machine's link to the router.
struct NatSite {
    router: String,
    board: String,
    host_if: String,
    host_ip: String,
    board_ip: String,
}

impl NatSite {
    /// This machine at `.1/28` of a subnet unique to this process, the router at `.2/28` on
    /// that link and `.9/30` towards the board, the board at `.10/30` behind it.
    fn create() -> NatSite {
        let pid = std::process::id();
        let base = u32::from(TAG % 16) * 16;
        let net = format!("10.239.{}", pid % 250);
        let name = |role: &str| format!("bn{}{role}{TAG}", pid % 100000);
        let site = NatSite {
            router: name("r"),
            board: name("b"),
            host_if: name("h"),
            host_ip: format!("{net}.{}", base + 1),
            board_ip: format!("{net}.{}", base + 10),
        };
        site.remove();
        let router_outer = format!("{net}.{}/28", base + 2);
        let router_inner = format!("{net}.{}/30", base + 9);
        let router_gw = format!("{net}.{}", base + 9);
        ip(&["netns", "add", &site.router]);
        ip(&["netns", "add", &site.board]);
        ip(&[
            "link",
            "add",
            &site.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "outer",
            "netns",
            &site.router,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/28", site.host_ip),
            "dev",
            &site.host_if,
        ]);
        ip(&["link", "set", &site.host_if, "up"]);
        let r = |args: &[&str]| {
            let mut all = vec!["-n", site.router.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        r(&["addr", "add", &router_outer, "dev", "outer"]);
        r(&["link", "set", "outer", "up"]);
        r(&["link", "set", "lo", "up"]);
        r(&[
            "link",
            "add",
            "inner",
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            &site.board,
        ]);
        r(&["addr", "add", &router_inner, "dev", "inner"]);
        r(&["link", "set", "inner", "up"]);
        let b = |args: &[&str]| {
            let mut all = vec!["-n", site.board.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        b(&[
            "addr",
            "add",
            &format!("{}/30", site.board_ip),
            "dev",
            "uplink",
        ]);
        b(&["link", "set", "uplink", "up"]);
        b(&["link", "set", "lo", "up"]);
        b(&["route", "add", "default", "via", &router_gw]);
        site.in_router(&["sysctl", "-qw", "net.ipv4.ip_forward=1"], None);
        site.in_router(
            &["nft", "-f", "-"],
            Some(
                "table ip nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname \"outer\" masquerade\n }\n}\n",
            ),
        );
        site
    }

    /// Runs `args` in the router's namespace, with `stdin`.
    fn in_router(&self, args: &[&str], stdin: Option<&str>) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.router])
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run in the router's namespace");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or("").as_bytes())
            .expect("write stdin");
        drop(input);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{args:?} in the router: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The board's namespace, for `nsenter --net`.
    fn board_path(&self) -> String {
        format!("/run/netns/{}", self.board)
    }

    /// Kills what runs in the namespaces and removes them and the link (with the router
    /// go its nftables rule and its forwarding setting).
    fn remove(&self) {
        for ns in [&self.board, &self.router] {
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
            .args(["link", "del", &self.host_if])
            .output();
    }
}

impl Drop for NatSite {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The server (control plane only) on this machine and the NATed board; dropped in field
/// order: pods, agent, server, registry, files, site.
struct NatBoards {
    agent: Agent,
    cluster: Cluster,
    _registry: Registry,
    work: tempfile::TempDir,
    site: NatSite,
}

impl Drop for NatBoards {
    fn drop(&mut self) {
        self.cluster.delete_all_pods();
    }
}

impl NatBoards {
    fn start() -> NatBoards {
        require_root();
        let site = NatSite::create();
        let work = tempfile::tempdir().expect("temp dir");
        let registry = Registry::start_on(work.path(), &site.host_ip);
        build_busybox_image_at(
            work.path(),
            &site.host_ip,
            registry.port,
            "library/busybox",
            IDLE,
        );
        let registries = work.path().join("registries.yaml");
        write_mirror_at(&registries, &site.host_ip, registry.port);
        let cluster = Cluster::start_on(
            &site.host_ip,
            vec![
                "--no-agent".into(),
                "--cluster-cidr".into(),
                format!("10.{}.0.0/16", TAG - 8),
            ],
        );
        let mut agent = Agent::new(
            &site.board_path(),
            &format!("https://{}:{}", site.host_ip, cluster.port),
            BOARD,
            &registries,
            work.path(),
        );
        let token =
            std::fs::read_to_string(cluster.data_dir().join("join-token")).expect("join token");
        agent.start(&["--token", token.trim()]);
        let boards = NatBoards {
            agent,
            cluster,
            _registry: registry,
            work,
            site,
        };
        boards.wait_ready();
        boards
    }

    fn wait_ready(&self) {
        eventually("the NATed board to be Ready", || {
            let ready = self.cluster.jsonpath(
                &["node", BOARD],
                "{.status.conditions[?(@.type==\"Ready\")].status}",
            );
            (ready == "True").then_some(())
        });
    }
}

/// A pod echoing every connection on port 7000 back to its client.
fn echo_pod(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {BOARD}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: busybox
    command: [/bin/busybox, nc, -ll, -p, "7000", -e, /bin/cat]
"#
    )
}

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(c: &Cluster, args: &[&str], stdout: Stdio, stderr: &Path) -> Running {
    let child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(args)
        .env("HOME", c.dir.path())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("run kubectl");
    Running(child)
}

/// Sends `payload` through one connection to `127.0.0.1:local` and returns all that came
/// back once the pod closed its end.
fn exchange(local: u16, payload: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(("127.0.0.1", local)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut writer = conn.try_clone().ok()?;
    let payload = payload.to_vec();
    let sent = std::thread::spawn(move || {
        let ok = writer.write_all(&payload).is_ok();
        let _ = writer.shutdown(Shutdown::Write);
        ok
    });
    let mut back = Vec::new();
    conn.read_to_end(&mut back).ok()?;
    sent.join().ok()?.then_some(back)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_board_behind_nat_serves_logs_exec_port_forward_and_stats_through_its_tunnel() {
    let mut boards = NatBoards::start();
    let c = &boards.cluster;

    // The board reports its own address, which the server cannot reach.
    let board_ip = c.jsonpath(
        &["node", BOARD],
        "{.status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    assert_eq!(board_ip, boards.site.board_ip);
    let kubelet: SocketAddr = format!("{board_ip}:10250").parse().expect("address");
    assert!(
        TcpStream::connect_timeout(&kubelet, Duration::from_secs(2)).is_err(),
        "the server can dial the board's kubelet port: the board is not behind NAT"
    );

    c.apply(&pod_on(
        "ticker",
        BOARD,
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
    ));
    c.apply(&echo_pod("echo"));
    for pod in ["ticker", "echo"] {
        eventually(&format!("{pod} to run"), || {
            (c.pod_jsonpath(pod, "{.status.phase}") == "Running").then_some(())
        });
    }

    // kubectl logs -f streams lines as the container writes them.
    let work = boards.work.path();
    let mut follow = kubectl(
        c,
        &["logs", "-f", "ticker"],
        Stdio::piped(),
        &work.join("logs.err"),
    );
    let mut lines = BufReader::new(follow.0.stdout.take().expect("piped stdout"));
    let mut seen = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if tx.send(std::mem::take(&mut line)).is_err() {
                return;
            }
        }
    });
    while seen.len() < 3 {
        let line = rx.recv_timeout(support::DEADLINE).unwrap_or_else(|_| {
            panic!(
                "kubectl logs -f stopped after {seen:?}: {}",
                std::fs::read_to_string(work.join("logs.err")).unwrap_or_default()
            )
        });
        seen.push(line.trim().to_string());
    }
    assert!(seen.iter().all(|l| l.starts_with("tick ")), "{seen:?}");
    let numbers: Vec<u64> = seen
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive lines, as written: {seen:?}"
    );
    drop(follow);

    // kubectl exec with stdin, and the command's exit code.
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["exec", "-i", "ticker", "--", "cat"],
        Some("through the tunnel\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the tunnel\n");
    let out = c.kubectl(&["exec", "ticker", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // kubectl port-forward: two connections, each echoed whole.
    let local = free_port();
    let _forward = kubectl(
        c,
        &["port-forward", "pod/echo", &format!("{local}:7000")],
        Stdio::null(),
        &work.join("port-forward.err"),
    );
    eventually("a connection through port-forward to be echoed", || {
        exchange(local, b"hello over nat\n").filter(|b| b == b"hello over nat\n")
    });
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let back = exchange(local, &big).expect("the second connection");
    assert!(back == big, "echoed {} of {} bytes", back.len(), big.len());

    // The node's summary through nodes/proxy.
    let path = format!("/api/v1/nodes/{BOARD}/proxy/stats/summary");
    let summary = eventually("the summary to list the ticker pod", || {
        let summary: serde_json::Value =
            serde_json::from_str(&c.kubectl_ok(&["get", "--raw", &path])).expect("summary JSON");
        let listed = summary["pods"]
            .as_array()
            .is_some_and(|pods| pods.iter().any(|p| p["podRef"]["name"] == "ticker"));
        listed.then_some(summary)
    });
    assert_eq!(summary["node"]["nodeName"], BOARD, "{summary}");

    // Without its tunnel the board is out of reach again.
    boards.agent.start(&["--no-tunnel"]);
    boards.wait_ready();
    let c = &boards.cluster;
    let refused = eventually("logs to fail without the tunnel", || {
        let out = c.kubectl(&["logs", "ticker", "--tail=1"]);
        (!out.status.success()).then(|| stderr(&out))
    });
    assert!(
        refused.contains("cannot reach the kubelet of node"),
        "{refused}"
    );
}
