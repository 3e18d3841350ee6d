//! One harness for every end-to-end test: starts the real `bramble server` binary on a free
//! loopback port with its own data directory, and drives it with the real kubectl and with
//! Bramble's own HTTP client.
#![allow(dead_code)]

pub mod board;
pub mod etcd;
pub mod in_cluster;
pub mod joined;
pub mod lan;
pub mod registry;
pub mod sockets;
pub mod storage;
pub mod terminal;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bramble::client::http::HttpClient;
use bramble::pki::kubeconfig::Kubeconfig;

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The kubelet's hard eviction thresholds in tests (`BRAMBLE_EVICTION_HARD`; a test's own
/// `--eviction-hard` flag wins): memory only. The shared build machines running the tests
/// often have less than upstream's 10–15 % of their disk free, and disk pressure would taint
/// the node and evict the pods every test runs.
pub const TEST_EVICTION_HARD: (&str, &str) = ("BRAMBLE_EVICTION_HARD", "memory.available<100Mi");

/// A running server.
pub struct Cluster {
    child: Option<Child>,
    /// The network namespace the server runs in (`None`: this process's).
    netns: Option<String>,
    pub dir: tempfile::TempDir,
    /// The address the server listens on (loopback unless a test links boards).
    pub host: String,
    pub port: u16,
    flags: Vec<String>,
}

/// Flags that give a test server its own kubelet: a private bridge and pod range, so tests
/// running at once never share a network.
pub fn agent_flags(tag: u8) -> Vec<String> {
    let n = (std::process::id() % 200) as u8;
    vec![
        "--bridge".into(),
        format!("brk{}x{tag}", std::process::id() % 100000),
        "--pod-cidr".into(),
        // tags 0-155 use 10.100-255, higher ones 10.44 up (above the defaults 10.42, 10.43)
        format!(
            "10.{}.{}.0/24",
            100u8.checked_add(tag).unwrap_or_else(|| tag - 112),
            n
        ),
    ]
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Polls `f` until it returns `Some`, failing the test after [`DEADLINE`].
pub fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_within(DEADLINE, Duration::from_millis(50), f)
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Calls `f` every `every` until it returns `Some`, or `None` once `limit` has passed
/// (with one last call after it).
pub fn poll_within<T>(
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

impl Cluster {
    /// Starts a fresh server.
    pub fn start() -> Cluster {
        Self::start_with(&[])
    }

    /// Starts a fresh control plane (no kubelet) with extra `bramble server` flags. Nodes
    /// such a test creates by hand have no kubelet to renew their leases, so the node
    /// lifecycle controller is given an hour before it marks them NotReady.
    pub fn start_with(flags: &[&str]) -> Cluster {
        let mut all = vec![
            "--no-agent".to_string(),
            "--node-monitor-grace-period=1h".to_string(),
        ];
        all.extend(flags.iter().map(|s| s.to_string()));
        Self::launch_new(all)
    }

    /// Starts a fresh server that runs pods on its own node (`test-node`).
    pub fn start_with_agent(flags: Vec<String>) -> Cluster {
        Self::launch_new(flags)
    }

    /// Starts a fresh server listening on `host` (an address of this machine).
    pub fn start_on(host: &str, flags: Vec<String>) -> Cluster {
        Self::launch_at(host, flags)
    }

    fn launch_new(flags: Vec<String>) -> Cluster {
        Self::launch_at("127.0.0.1", flags)
    }

    /// Starts a fresh server inside the network namespace at `netns` (a path under
    /// `/run/netns`), listening on `host`, an address of that namespace.
    pub fn start_in_netns(netns: &str, host: &str, flags: Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = Cluster {
            child: None,
            netns: Some(netns.to_string()),
            dir,
            host: host.to_string(),
            port: free_port(),
            flags,
        };
        c.first_launch();
        c
    }

    /// Starts a fresh server on loopback once `prepare` has filled its data directory (a
    /// server sharing another's certificates gets a copy of its `pki` this way).
    pub fn start_prepared(flags: Vec<String>, prepare: impl FnOnce(&Path)) -> Cluster {
        Self::start_prepared_on("127.0.0.1", flags, prepare)
    }

    /// [`Cluster::start_prepared`] listening on `host`, an address of this machine.
    pub fn start_prepared_on(
        host: &str,
        flags: Vec<String>,
        prepare: impl FnOnce(&Path),
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = Cluster {
            child: None,
            netns: None,
            dir,
            host: host.to_string(),
            port: free_port(),
            flags,
        };
        prepare(&c.data_dir());
        c.first_launch();
        c
    }

    fn launch_at(host: &str, flags: Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = Cluster {
            child: None,
            netns: None,
            dir,
            host: host.to_string(),
            port: free_port(),
            flags,
        };
        c.first_launch();
        c
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Where this server's kubelet pins pod namespaces, so they go with the test.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("admin.kubeconfig")
    }

    /// Starts the server for the first time. Another process may take the port between
    /// [`free_port`] and the server's bind: then it starts again on another port.
    fn first_launch(&mut self) {
        for _ in 0..3 {
            let before = self.log().len();
            match self.try_launch() {
                Ok(()) => return,
                Err(log)
                    if log
                        .get(before..)
                        .unwrap_or("")
                        .contains("Address already in use") =>
                {
                    self.port = free_port();
                }
                Err(log) => panic!("{log}"),
            }
        }
        panic!(
            "no free port for the server in three tries:\n{}",
            self.log()
        );
    }

    /// Starts the server and waits until it is ready.
    pub fn launch(&mut self) {
        if let Err(log) = self.try_launch() {
            panic!("{log}");
        }
    }

    /// Starts the server and waits until it is ready; `Err` holds its log when it exited
    /// before that.
    fn try_launch(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={ns}"))
                    .arg(env!("CARGO_BIN_EXE_bramble"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_bramble")),
        };
        let child = cmd
            .args(["server", "--data-dir"])
            .arg(self.data_dir())
            .args([
                "--listen",
                &format!("{}:{}", self.host, self.port),
                "--node-name",
                "test-node",
            ])
            .arg("--run-dir")
            .arg(self.run_dir())
            .args(&self.flags)
            .env(TEST_EVICTION_HARD.0, TEST_EVICTION_HARD.1)
            .env("BRAMBLE_LOG", "info,bramble=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bramble server");
        self.child = Some(child);
        eventually("the server to be ready", || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Some(Err(format!(
                    "server exited early with {status}:\n{}",
                    self.log()
                )));
            }
            if !self.kubeconfig().exists() {
                return None;
            }
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            out.status.success().then_some(Ok(()))
        })
    }

    /// Stops the server with SIGKILL (no chance to flush anything).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server with SIGTERM, as systemd does, and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .output();
            eventually("the server to stop on SIGTERM", || {
                c.try_wait().ok().flatten()
            });
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as(&self.kubeconfig(), args, None)
    }

    /// Runs kubectl with another kubeconfig, optionally feeding stdin.
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl, failing the test unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get WHAT… -o jsonpath=PATH`, or an empty string when kubectl fails (the
    /// object does not exist yet, or no longer).
    pub fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let p = format!("jsonpath={path}");
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", &p]);
        let out = self.kubectl(&args);
        if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::new()
        }
    }

    /// `kubectl get pod POD -o jsonpath=PATH`.
    pub fn pod_jsonpath(&self, pod: &str, path: &str) -> String {
        self.kubectl_ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
    }

    /// Applies YAML from a string.
    pub fn apply(&self, yaml: &str) -> String {
        let out = self.kubectl_as(&self.kubeconfig(), &["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Bramble's own HTTP client with the admin kubeconfig.
    pub fn api(&self) -> Arc<HttpClient> {
        let kc = Kubeconfig::load(&self.kubeconfig()).expect("admin kubeconfig");
        HttpClient::new(&kc).expect("client")
    }

    /// Deletes every pod and waits for them to go, so kubelets stop their containers and
    /// remove their mounts and namespaces (containers outlive the server by design). The
    /// workload objects go first, leaving their pods, so nothing makes new ones.
    pub fn delete_all_pods(&self) {
        for kind in [
            "deployments",
            "replicasets",
            "daemonsets",
            "statefulsets",
            "jobs",
            "cronjobs",
            "replicationcontrollers",
        ] {
            let _ = self.kubectl(&[
                "delete",
                kind,
                "--all",
                "--all-namespaces",
                "--cascade=orphan",
                "--wait=false",
            ]);
        }
        let _ = self.kubectl(&[
            "delete",
            "pods",
            "--all",
            "--all-namespaces",
            "--grace-period=1",
            "--wait=true",
            "--timeout=60s",
        ]);
    }

    /// Waits for the `kube-root-ca.crt` ConfigMap the server publishes in `namespace`, so a
    /// test listing ConfigMaps there sees no late arrival.
    pub fn wait_for_root_ca(&self, namespace: &str) {
        eventually("kube-root-ca.crt to be published", || {
            let out = self.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", namespace]);
            out.status.success().then_some(())
        });
    }

    /// Writes a kubeconfig that authenticates with a bearer token only.
    pub fn token_kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        let mut kc = Kubeconfig::load(&self.kubeconfig()).expect("admin kubeconfig");
        kc.user_name = name.into();
        kc.credentials = bramble::pki::kubeconfig::Credentials::Token(token.into());
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        kc.write(&path).expect("write kubeconfig");
        path
    }

    /// Writes a kubeconfig for another user, issued by `bramble kubeconfig`.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> PathBuf {
        let path = self.dir.path().join(format!("{user}.kubeconfig"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bramble"));
        cmd.args(["kubeconfig", "--data-dir"])
            .arg(self.data_dir())
            .args(["--user", user]);
        for g in groups {
            cmd.args(["--group", g]);
        }
        cmd.args([
            "--server",
            &format!("https://{}:{}", self.host, self.port),
            "--out",
        ])
        .arg(&path);
        let out = cmd.output().expect("bramble kubeconfig");
        assert!(
            out.status.success(),
            "bramble kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let keep = std::env::temp_dir().join(format!("bramble-failed-test-{}.log", self.port));
            let _ = std::fs::write(&keep, &log);
            eprintln!("full server log kept at {}", keep.display());
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- server log (last lines) ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        self.kill9();
        unmount_under(self.dir.path());
    }
}

/// Unmounts whatever a kubelet left mounted under `dir` (its local-disk volumes), once the
/// server is gone and cannot mount them again, so the directory can be removed; loop devices
/// set up by `mount -o loop` detach with their mount.
/// The lines of this machine's mount table that name `text` (e.g. a pod uid).
pub fn mounts_naming(text: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .filter(|l| l.contains(text))
        .map(str::to_string)
        .collect()
}

pub fn unmount_under(dir: &Path) {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return;
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(&dir))
        .collect();
    mounts.reverse();
    for m in mounts {
        let _ = Command::new("umount").args(["-l", m]).output();
    }
}

/// A Node that reports Ready with the given allocatable CPU and memory.
pub fn node_yaml(name: &str, cpu: &str, memory: &str) -> String {
    format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
status:
  capacity: {{cpu: \"{cpu}\", memory: {memory}, pods: \"110\"}}
  allocatable: {{cpu: \"{cpu}\", memory: {memory}, pods: \"110\"}}
  conditions:
  - type: Ready
    status: \"True\"
    reason: KubeletReady
    message: kubelet is posting ready status
"
    )
}

/// The two-container pod from the product's source material, unchanged.
pub const SHARED_VOLUMES: &str = "apiVersion: v1
kind: Pod
metadata:
  name: shared-volumes
spec:
  containers:
  - name: redis
    image: redis
    volumeMounts:
    - name: shared-storage
      mountPath: /data/shared
  - name: nginx
    image: nginx
    volumeMounts:
    - name: shared-storage
      mountPath: /data/shared
  volumes:
  - name : shared-storage
    emptyDir: {}
";
