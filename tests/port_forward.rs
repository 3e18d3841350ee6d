//! `kubectl port-forward` as a user runs it: stock kubectl listens on a local port, and every
//! connection to it reaches a TCP server inside a pod's network namespace — on the server's
//! own board over kubectl's default WebSocket tunnel, on a joined board over the SPDY
//! upgrade kubectl falls back to — with bytes flowing both ways on consecutive connections.
//! A port nothing listens on is reported by kubectl as an error. Needs root, runc's
//! dependencies and the kubelet tests' Debian packages, as the other board tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support;

use support::board::{Board, IDLE};
use support::joined::{TwoBoards, BOARD};
use support::{eventually, Cluster};

/// A pod whose container echoes every connection on port 7000 until the client's end.
fn echo_pod(name: &str, node_selector: Option<&str>, image: &str) -> String {
    let selector = node_selector
        .map(|n| format!("  nodeSelector: {{kubernetes.io/hostname: {n}}}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
{selector}  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: {image}
    command: [/bin/busybox, nc, -ll, -p, "7000", -e, /bin/cat]
"#
    )
}

/// A running `kubectl port-forward`, killed on drop; its output goes to files.
struct Forward {
    child: Child,
    stderr: PathBuf,
}

impl Forward {
    /// `kubectl port-forward pod/POD LOCAL:REMOTE`, with `env` set.
    fn start(c: &Cluster, home: &Path, pod: &str, ports: &str, env: &[(&str, &str)]) -> Forward {
        let stderr = home.join(format!("port-forward-{ports}.err"));
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(c.kubeconfig())
            .args(["port-forward", &format!("pod/{pod}"), ports])
            .env("HOME", home)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Forward {
            child: cmd.spawn().expect("run kubectl port-forward"),
            stderr,
        }
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- kubectl port-forward stderr ---\n{}", self.errors());
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Sends `payload` through one connection to the local port and returns all that came back
/// once the pod closed its side (after ours); `None` while kubectl is not listening yet.
fn exchange(local: u16, payload: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(("127.0.0.1", local)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut writer = conn.try_clone().ok()?;
    let sent = payload.to_vec();
    // written while the echo is read, so neither direction waits for the other to drain
    let sending = std::thread::spawn(move || {
        let ok = writer.write_all(&sent).is_ok();
        let _ = writer.shutdown(Shutdown::Write);
        ok
    });
    let mut back = Vec::new();
    let read = conn.read_to_end(&mut back);
    let sent_all = sending.join().unwrap_or(false);
    (read.is_ok() && sent_all).then_some(back)
}

/// Two consecutive connections through `kubectl port-forward` echo what they send, one line
/// and then 256 KiB; a second forward to a port nothing listens on shows kubectl's error.
fn forwards_to(c: &Cluster, home: &Path, pod: &str, env: &[(&str, &str)]) {
    let local = free_port();
    let forward = Forward::start(c, home, pod, &format!("{local}:7000"), env);
    // The first connection may come before kubectl listens, or before the container's
    // server does; either way it ends without the echo, and is tried again.
    let first = b"hello through port-forward\n";
    eventually("the first connection to be echoed", || {
        exchange(local, first).filter(|back| back == first)
    });
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let back = exchange(local, &big).expect("the second connection");
    assert!(back == big, "echoed {} of {} bytes", back.len(), big.len());
    drop(forward);

    let closed = free_port();
    let refused = Forward::start(c, home, pod, &format!("{closed}:7999"), env);
    eventually("kubectl to report the refused port", || {
        // each attempt is a connection kubectl forwards and the pod's node refuses
        let _ = exchange(closed, b"anyone there?");
        let errors = refused.errors();
        (errors.contains("error forwarding port 7999 to pod")
            && errors.contains("failed to connect to localhost:7999"))
        .then_some(())
    });
}

#[test]
fn port_forward_to_a_pod_on_the_servers_board() {
    let board = Board::start("builtin", 97, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&echo_pod("echo", None, "box"));
    eventually("echo to run", || {
        (c.pod_jsonpath("echo", "{.status.phase}") == "Running").then_some(())
    });
    forwards_to(c, board.work.path(), "echo", &[]);
}

#[test]
fn port_forward_to_a_pod_on_a_joined_board_over_spdy() {
    let boards = TwoBoards::start(98, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;
    c.apply(&echo_pod("far-echo", Some(BOARD), "busybox"));
    eventually("far-echo to run", || {
        (c.pod_jsonpath("far-echo", "{.status.phase}") == "Running").then_some(())
    });
    // kubectl's SPDY upgrade, as before its WebSocket tunnel (and through proxies that
    // refuse WebSockets)
    let spdy = [("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")];
    forwards_to(c, boards.work.path(), "far-echo", &spdy);
}
