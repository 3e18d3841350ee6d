//! Two boards on one machine: the server, with its own kubelet, in this machine's network
//! namespace, and a second board running `bramble agent` in a network namespace of its own,
//! linked to the first by a veth pair as two boards on one switch are. Images come from a
//! `docker-registry` on the server side of the link. Needs root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::board::{write_mirror_at, NodeNetwork};
use super::registry::{build_busybox_image_at, require_root, Registry};
use super::{agent_flags, eventually, unmount_under, Cluster};

/// The joined board's node name.
pub const BOARD: &str = "board-2";

/// A network namespace standing for a second board, with its link to this machine.
pub struct BoardLink {
    /// The namespace (`ip netns` name).
    pub netns: String,
    /// The link's end on this machine.
    pub host_if: String,
    /// This machine's address on the link (the server's).
    pub host_ip: String,
    /// The board's address on the link.
    pub board_ip: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl BoardLink {
    /// Creates the namespace and a /30 link to it, unique to this process and `tag`. Links
    /// live in 10.240.0.0/12, one /16 per tag modulo 16, so tags above 15 fit too.
    pub fn create(tag: u8) -> BoardLink {
        let id = std::process::id() % 250;
        let octet = 240 + tag % 16;
        let netns = format!("bj{}x{tag}", std::process::id() % 100000);
        let link = BoardLink {
            host_if: format!("{netns}h"),
            host_ip: format!("10.{octet}.{id}.1"),
            board_ip: format!("10.{octet}.{id}.2"),
            netns,
        };
        let _ = Command::new("ip")
            .args(["netns", "del", &link.netns])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &link.host_if])
            .output();
        ip(&["netns", "add", &link.netns]);
        ip(&[
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            &link.netns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", link.host_ip),
            "dev",
            &link.host_if,
        ]);
        ip(&["link", "set", &link.host_if, "up"]);
        let ns = |args: &[&str]| {
            let mut all = vec!["-n", link.netns.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        ns(&[
            "addr",
            "add",
            &format!("{}/30", link.board_ip),
            "dev",
            "uplink",
        ]);
        ns(&["link", "set", "uplink", "up"]);
        ns(&["link", "set", "lo", "up"]);
        ns(&["route", "add", "default", "via", &link.host_ip]);
        link
    }

    /// The namespace's path, for `nsenter --net`.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.netns)
    }
}

impl Drop for BoardLink {
    /// Kills whatever still runs on the board, then removes it: with the namespace go the
    /// board's bridge, its nftables table and the host's route to its pods.
    fn drop(&mut self) {
        let pids = Command::new("ip")
            .args(["netns", "pids", &self.netns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// Polls `f` until it returns `Some` or the deadline passes.
fn eventually_or_none<T>(f: impl FnMut() -> Option<T>) -> Option<T> {
    super::poll_within(super::DEADLINE, std::time::Duration::from_millis(50), f)
}

/// `bramble agent` on the board's namespace.
pub struct Agent {
    child: Option<Child>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its kubelet pins pod namespaces.
    run_dir: PathBuf,
    log: PathBuf,
    netns: String,
    base: Vec<String>,
}

impl Agent {
    /// An agent (not started) in the network namespace at `netns` joining the server at
    /// `server_url` as node `name`, keeping its files under `work`.
    pub fn new(netns: &str, server_url: &str, name: &str, registries: &Path, work: &Path) -> Agent {
        Agent {
            child: None,
            log: work.join(format!("{name}.log")),
            run_dir: work.join(format!("{name}-run")),
            netns: netns.to_string(),
            base: vec![
                "--server".into(),
                server_url.to_string(),
                "--node-name".into(),
                name.to_string(),
                "--registries".into(),
                registries.display().to_string(),
            ],
            data_dir: work.join(format!("{name}-data")),
        }
    }

    /// The command line of an agent joining `server` as [`BOARD`].
    fn command(&self, data_dir: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.netns))
            .arg(env!("CARGO_BIN_EXE_bramble"))
            .arg("agent")
            .args(&self.base)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env(super::TEST_EVICTION_HARD.0, super::TEST_EVICTION_HARD.1)
            .env("BRAMBLE_LOG", "info,bramble=debug");
        cmd
    }

    /// Starts the agent (again) with `extra` flags, e.g. `["--token", T]`.
    pub fn start(&mut self, extra: &[&str]) {
        self.kill9();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("agent log");
        let child = self
            .command(&self.data_dir, extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bramble agent");
        self.child = Some(child);
    }

    /// Runs the agent to its end (it is expected to fail) and returns what it printed.
    pub fn run_to_exit(&self, extra: &[&str]) -> Output {
        self.run_in_to_exit(&self.data_dir, extra)
    }

    /// [`Agent::run_to_exit`] as another board would, with its own data directory.
    pub fn run_elsewhere_to_exit(&self, data_dir: &Path, extra: &[&str]) -> Output {
        self.run_in_to_exit(data_dir, extra)
    }

    fn run_in_to_exit(&self, data_dir: &Path, extra: &[&str]) -> Output {
        let mut child = self
            .command(data_dir, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bramble agent");
        let exited = eventually_or_none(|| child.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = child.kill();
            let out = child.wait_with_output().expect("agent output");
            panic!(
                "bramble agent {extra:?} kept running instead of failing:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        child.wait_with_output().expect("agent output")
    }

    /// Whether the running agent has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Starts the agent (again) with `extra` flags as a board runs it: the default log level,
    /// its log discarded, so what it writes to storage is its own state alone.
    pub fn start_quiet(&mut self, extra: &[&str]) {
        self.kill9();
        let child = self
            .command(&self.data_dir, extra)
            .env_remove("BRAMBLE_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bramble agent");
        self.child = Some(child);
    }

    /// The agent's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the agent with SIGTERM, as systemd does, and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .output();
            let ended = eventually_or_none(|| c.try_wait().ok().flatten());
            assert!(ended.is_some(), "the agent did not stop on SIGTERM");
        }
    }

    /// Stops the agent with SIGKILL, as a board losing power.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- agent log (last lines) ---");
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        self.kill9();
        unmount_under(&self.data_dir);
        unmount_under(&self.run_dir);
    }
}

/// The server board and the joined board; dropped in field order after their pods are gone.
pub struct TwoBoards {
    pub agent: Agent,
    pub cluster: Cluster,
    pub registry: Registry,
    pub work: tempfile::TempDir,
    pub link: BoardLink,
    _network: NodeNetwork,
}

impl TwoBoards {
    /// A server (node `test-node`, on the link's host address) whose registry holds `images`,
    /// and an agent ready to join it (not started). `server_flags` go to `bramble server`.
    pub fn prepare(tag: u8, images: &[(&str, &[&str])], server_flags: &[&str]) -> TwoBoards {
        require_root();
        let link = BoardLink::create(tag);
        let bridge = agent_flags(tag)[1].clone();
        let network = NodeNetwork(bridge.clone());
        let work = tempfile::tempdir().expect("temp dir");
        let registry = Registry::start_on(work.path(), &link.host_ip);
        for (repo, cmd) in images {
            build_busybox_image_at(work.path(), &link.host_ip, registry.port, repo, cmd);
        }
        let registries = work.path().join("registries.yaml");
        write_mirror_at(&registries, &link.host_ip, registry.port);
        let mut flags = vec![
            "--bridge".to_string(),
            bridge,
            "--cluster-cidr".into(),
            // tags 0-105 use 10.150-255, higher ones 10.20-99
            format!(
                "10.{}.0.0/16",
                150u8.checked_add(tag).unwrap_or_else(|| 20 + tag % 80)
            ),
            "--registries".into(),
            registries.display().to_string(),
        ];
        flags.extend(server_flags.iter().map(|f| f.to_string()));
        let cluster = Cluster::start_on(&link.host_ip, flags);
        let agent = Agent::new(
            &link.path(),
            &format!("https://{}:{}", link.host_ip, cluster.port),
            BOARD,
            &registries,
            work.path(),
        );
        TwoBoards {
            agent,
            cluster,
            registry,
            work,
            link,
            _network: network,
        }
    }

    /// The server's join token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.cluster.data_dir().join("join-token"))
            .expect("join token")
            .trim()
            .to_string()
    }

    /// [`TwoBoards::prepare`], then the agent joins with the token and both nodes are Ready.
    pub fn start(tag: u8, images: &[(&str, &[&str])], server_flags: &[&str]) -> TwoBoards {
        let mut boards = TwoBoards::prepare(tag, images, server_flags);
        let token = boards.token();
        boards.agent.start(&["--token", &token]);
        boards.wait_ready(BOARD);
        boards.wait_ready("test-node");
        boards
    }

    /// Waits until `node` reports Ready.
    pub fn wait_ready(&mut self, node: &str) {
        eventually(&format!("node {node} to be Ready"), || {
            assert!(
                !self.agent.exited(),
                "the agent exited:\n{}",
                self.agent.log()
            );
            let ready = self.cluster.jsonpath(
                &["node", node],
                "{.status.conditions[?(@.type==\"Ready\")].status}",
            );
            (ready == "True").then_some(())
        });
    }
}

impl Drop for TwoBoards {
    /// Deletes every pod while both kubelets still run, so they stop their containers.
    fn drop(&mut self) {
        self.cluster.delete_all_pods();
    }
}

/// A pod running `command` in the idle-capable test image on `node`.
pub fn pod_on(name: &str, node: &str, command: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", {command:?}]
"
    )
}

/// Whether `path` or anything below it is still mounted.
pub fn mounted_below(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(m).starts_with(path))
}
