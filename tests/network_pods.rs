//! Pod networking on a real kernel (needs root): two pods on a private bridge reach each other
//! and the gateway, setup is idempotent and survives a restart, teardown leaves nothing behind.
//!
//! Every kernel object carries this process's id (bridge `brt<pid>`, nft table
//! `bramble_t<pid>`, CIDR 10.213.<pid % 250>.0/24) and a drop guard removes them with `ip`,
//! `umount` and `nft` even when an assertion fails.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use bramble::kubelet::network::{host_veth_name, PodNetwork, PodNetworkConfig, PodNetworkInfo};

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    assert!(
        root,
        "tests/network_pods.rs creates bridges, veths and network namespaces: run it as root"
    );
}

/// Removes everything the test may have created, whatever state the code under test left.
struct Cleanup {
    bridge: String,
    table: String,
    netns_dir: PathBuf,
    pod_uids: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for uid in &self.pod_uids {
            let _ = Command::new("ip")
                .args(["link", "del", &host_veth_name(uid)])
                .stderr(std::process::Stdio::null())
                .status();
            let path = self.netns_dir.join(uid);
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs a command inside the network namespace at `netns` (like `ip netns exec`): a fresh
/// thread enters the namespace and the child it spawns inherits it.
fn exec_in(netns: &Path, args: &[&str]) -> (bool, String) {
    let netns = netns.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&netns).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let out = Command::new(&args[0]).args(&args[1..]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    })
    .join()
    .unwrap()
}

fn host(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn assert_pod_interface(info: &PodNetworkInfo) {
    let (ok, addr) = exec_in(
        &info.netns_path,
        &["ip", "-4", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(ok, "{addr}");
    assert!(addr.contains(&format!("inet {}/24", info.ip)), "{addr}");
    let (ok, route) = exec_in(&info.netns_path, &["ip", "-4", "route", "show", "default"]);
    assert!(ok, "{route}");
    assert!(
        route.contains(&format!("default via {} dev eth0", info.gateway)),
        "{route}"
    );
    let (ok, lo) = exec_in(&info.netns_path, &["ip", "-o", "link", "show", "dev", "lo"]);
    assert!(ok && lo.contains("UP"), "lo is up: {lo}");
}

fn ping(from: &PodNetworkInfo, to: Ipv4Addr) {
    let target = to.to_string();
    // A fresh veth may need a moment (neighbour discovery, a loaded machine): retry until a
    // deadline rather than trusting one packet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (ok, out) = exec_in(
            &from.netns_path,
            &["busybox", "ping", "-c1", "-W1", &target],
        );
        if ok {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} cannot reach {to}: {out}",
            from.ip
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pods_on_one_bridge_reach_each_other_and_clean_up() {
    require_root();
    let pid = std::process::id();
    let state = tempfile::tempdir().unwrap();
    let bridge = format!("brt{pid}");
    let table = format!("bramble_t{pid}");
    let cidr = format!("10.213.{}.0/24", pid % 250);
    let mut config =
        PodNetworkConfig::new(&bridge, cidr.parse().unwrap(), state.path().join("net"));
    config.netns_dir = state.path().join("netns");
    config.nft_table = table.clone();
    let uid_a = format!("pod-a-{pid}");
    let uid_b = format!("pod-b-{pid}");
    let uid_c = format!("pod-c-{pid}");
    let _cleanup = Cleanup {
        bridge: bridge.clone(),
        table: table.clone(),
        netns_dir: config.netns_dir.clone(),
        pod_uids: vec![uid_a.clone(), uid_b.clone(), uid_c.clone()],
    };

    let net = PodNetwork::new(config.clone()).unwrap();
    let err = net.setup(&uid_a, "a").await.unwrap_err();
    assert!(err.to_string().contains(&bridge), "{err}");
    assert!(err.to_string().contains("ensure_node"), "{err}");
    net.ensure_node().await.unwrap();
    net.ensure_node().await.unwrap();

    let (ok, rules) = host(&["nft", "list", "table", "ip", &table]);
    assert!(ok, "{rules}");
    assert!(rules.contains(&format!("ip saddr {cidr}")), "{rules}");
    assert_eq!(rules.matches("masquerade").count(), 1, "{rules}");

    let a = net.setup(&uid_a, "a").await.unwrap();
    let b = net.setup(&uid_b, "b").await.unwrap();
    let gateway: Ipv4Addr = cidr.replace(".0/24", ".1").parse().unwrap();
    assert_eq!(a.gateway, gateway);
    assert_ne!(a.ip, b.ip);
    assert_eq!(a.netns_path, net.netns_path(&uid_a));
    assert_pod_interface(&a);
    assert_pod_interface(&b);
    let (ok, link) = host(&["ip", "-o", "link", "show", "dev", &a.host_veth]);
    assert!(ok && link.contains(&format!("master {bridge}")), "{link}");

    ping(&a, b.ip);
    ping(&b, a.ip);
    ping(&a, gateway);
    ping(&b, gateway);

    assert_eq!(
        net.setup(&uid_a, "a").await.unwrap(),
        a,
        "setup is idempotent"
    );
    assert_pod_interface(&a);

    // A restart over the same state dir keeps every allocation and the namespaces.
    drop(net);
    let net = PodNetwork::new(config.clone()).unwrap();
    assert_eq!(net.pod_ip(&uid_b).await.unwrap(), Some(b.ip));
    assert_eq!(net.setup(&uid_a, "a").await.unwrap(), a);
    let c = net.setup(&uid_c, "c").await.unwrap();
    assert!(c.ip != a.ip && c.ip != b.ip, "{c:?}");
    ping(&c, a.ip);

    net.teardown(&uid_a).await.unwrap();
    net.teardown(&uid_a).await.unwrap();
    let (exists, _) = host(&["ip", "link", "show", "dev", &a.host_veth]);
    assert!(!exists, "veth {} removed", a.host_veth);
    assert!(!a.netns_path.exists(), "namespace mount removed");
    assert_eq!(net.pod_ip(&uid_a).await.unwrap(), None);
    let (ok, _) = exec_in(
        &b.netns_path,
        &["busybox", "ping", "-c1", "-W1", &a.ip.to_string()],
    );
    assert!(!ok, "a torn-down pod no longer answers");

    net.teardown(&uid_b).await.unwrap();
    net.teardown(&uid_c).await.unwrap();
    net.remove_node().await.unwrap();
    net.remove_node().await.unwrap();
    let (exists, _) = host(&["ip", "link", "show", "dev", &bridge]);
    assert!(!exists, "bridge removed");
    let (exists, _) = host(&["nft", "list", "table", "ip", &table]);
    assert!(!exists, "nft table removed");
}
