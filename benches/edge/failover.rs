//! Failover time: from stopping the server that leads the scheduler to a new pod being bound
//! through another server.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::support::etcd::{server_holding, start_servers, EtcdCluster};
use crate::support::{node_yaml, poll_within, Cluster};

/// Rounds per kind of stop.
const ROUNDS: usize = 3;
/// The longest a failover may take before the round counts as failed.
const LIMIT: Duration = Duration::from_secs(60);

/// How a leader was stopped.
#[derive(Clone, Copy)]
enum Stop {
    Kill,
    Term,
}

impl Stop {
    fn label(self) -> &'static str {
        match self {
            Stop::Kill => "SIGKILL (power lost)",
            Stop::Term => "SIGTERM (systemd stop)",
        }
    }
}

/// The failover times measured, per kind of stop.
pub struct Failover {
    rounds: Vec<(Stop, Result<Duration, String>)>,
}

fn kubectl_text(c: &Cluster, args: &[&str]) -> String {
    let out = c.kubectl(args);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn scheduler_holder(c: &Cluster) -> String {
    kubectl_text(
        c,
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-scheduler",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
}

/// Polls `f` every 20 ms until it answers or `limit` passes.
fn poll<T>(limit: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_within(limit, Duration::from_millis(20), f)
}

/// Runs every round.
pub fn run() -> Failover {
    let etcd = EtcdCluster::start(3);
    let flags = vec![
        "--no-agent".to_string(),
        "--node-monitor-grace-period=1h".into(),
        "--datastore-endpoint".into(),
        etcd.endpoints(),
    ];
    let mut servers = start_servers(3, "127.0.0.1", &flags);
    servers[0].apply(&node_yaml("pi-1", "4", "4Gi"));
    let mut rounds = Vec::new();
    let stops = [Stop::Kill, Stop::Term];
    for (i, stop) in stops
        .iter()
        .flat_map(|s| std::iter::repeat(*s).take(ROUNDS))
        .enumerate()
    {
        rounds.push((stop, round(&mut servers, stop, i)));
    }
    drop(servers);
    drop(etcd);
    Failover { rounds }
}

fn round(servers: &mut [Cluster], stop: Stop, i: usize) -> Result<Duration, String> {
    let holder = poll(LIMIT, || {
        Some(scheduler_holder(&servers[0])).filter(|h| !h.is_empty())
    })
    .ok_or("no server leads the scheduler")?;
    let leader = server_holding(servers, &holder).ok_or("no server's log names the leader")?;
    let survivor = (leader + 1) % servers.len();
    let pod = format!("after-{i}");
    let started = Instant::now();
    match stop {
        Stop::Kill => servers[leader].kill9(),
        Stop::Term => servers[leader].stop(),
    }
    let created = servers[survivor].kubectl(&["run", &pod, "--image=busybox", "--restart=Never"]);
    if !created.status.success() {
        return Err(String::from_utf8_lossy(&created.stderr).trim().to_string());
    }
    let bound = poll(LIMIT, || {
        let node = kubectl_text(
            &servers[survivor],
            &["get", "pod", &pod, "-o", "jsonpath={.spec.nodeName}"],
        );
        (!node.is_empty()).then(|| started.elapsed())
    });
    servers[leader].launch();
    bound.ok_or_else(|| format!("pod {pod} was not bound within {LIMIT:?}"))
}

impl Failover {
    /// The report's section.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Failover: three servers on a three-member etcd\n\nFrom stopping the server that \
             leads the scheduler to a pod, created through another server at that moment, \
             being bound (lease duration 15 s, retry period 2 s).\n"
        );
        let _ = writeln!(out, "| Stop | Round | Failover time |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (i, (stop, result)) in self.rounds.iter().enumerate() {
            let cell = match result {
                Ok(d) => format!("{:.1} s", d.as_secs_f64()),
                Err(e) => format!("failed: {e}"),
            };
            let _ = writeln!(out, "| {} | {} | {cell} |", stop.label(), i % ROUNDS + 1);
        }
        let _ = writeln!(out);
    }
}
