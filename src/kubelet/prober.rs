//! The probes of one running container: when each is due, what it currently reports, and
//! whether the container counts as started and ready (upstream `prober/worker.go` and
//! `prober_manager.go`). Each run happens in its own task and reports back over a channel,
//! so a slow probe (a 10 s `timeoutSeconds`) never stalls the pod worker.
//!
//! Upstream's rules kept here: the startup probe holds back liveness and readiness until it
//! succeeds once and then stops; readiness starts failed; a container without probes is
//! started and ready while it runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;

use super::probe::{run_probe, Health, ProbeKind, ProbeResult, ProbeSettings, ProbeState};
use super::probe::{ProbeTarget, Transition};
use super::runtime::{ContainerRuntime, ExecSpec};
use crate::resources::seconds;

/// The spec field of each probe kind, in the order upstream starts their workers.
const PROBES: [(ProbeKind, &str); 3] = [
    (ProbeKind::Startup, "startupProbe"),
    (ProbeKind::Liveness, "livenessProbe"),
    (ProbeKind::Readiness, "readinessProbe"),
];

/// One finished probe run, sent back to the pod worker.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    /// The container's name in the pod spec.
    pub container: String,
    /// The runtime id the probe ran against (results for a replaced container are dropped).
    pub container_id: String,
    /// Which probe.
    pub kind: ProbeKind,
    /// What it found.
    pub result: ProbeResult,
}

struct Scheduled {
    kind: ProbeKind,
    spec: Value,
    state: ProbeState,
    period: Duration,
    next: Instant,
    in_flight: bool,
}

/// The probes of one container instance (a new runtime id gets a fresh set).
pub struct ContainerProbes {
    container_id: String,
    started_at: DateTime<Utc>,
    /// When this set was made, on both clocks: `take_due` maps its `Instant` to wall time.
    created: (Instant, DateTime<Utc>),
    probes: Vec<Scheduled>,
}

impl ContainerProbes {
    /// The probes `container` (its pod-spec JSON) declares, for the instance `container_id`
    /// that started at `started_at` (in the past when a restarted kubelet adopts it).
    pub fn new(container: &Value, container_id: &str, started_at: DateTime<Utc>) -> Self {
        let created = (Instant::now(), Utc::now());
        let probes = PROBES
            .iter()
            .filter_map(|(kind, field)| {
                let spec = container.get(*field).filter(|p| p.is_object())?;
                let settings = ProbeSettings::from_probe(spec);
                Some(Scheduled {
                    kind: *kind,
                    spec: spec.clone(),
                    state: ProbeState::new(*kind, settings),
                    period: settings.period.max(Duration::from_secs(1)),
                    next: created.0,
                    in_flight: false,
                })
            })
            .collect();
        ContainerProbes {
            container_id: container_id.to_string(),
            started_at,
            created,
            probes,
        }
    }

    /// The runtime id these probes belong to.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    fn reported(&self, kind: ProbeKind) -> Option<Option<Health>> {
        self.probes
            .iter()
            .find(|p| p.kind == kind)
            .map(|p| p.state.reported())
    }

    /// Whether the container has started: no startup probe, or it succeeded.
    pub fn started(&self) -> bool {
        self.reported(ProbeKind::Startup)
            .map_or(true, |h| h == Some(Health::Success))
    }

    /// Whether the container is ready: started, and its readiness probe (if any) passes.
    pub fn ready(&self) -> bool {
        self.started()
            && self
                .reported(ProbeKind::Readiness)
                .map_or(true, |h| h == Some(Health::Success))
    }

    /// The probes to run now (marked in flight until their outcome is observed).
    pub fn take_due(&mut self, now: Instant) -> Vec<(ProbeKind, Value)> {
        let started = self.started();
        let since = now.saturating_duration_since(self.created.0);
        let wall = self.created.1 + chrono::Duration::from_std(since).unwrap_or_default();
        let mut due = Vec::new();
        for p in &mut self.probes {
            let gated = match p.kind {
                ProbeKind::Startup => started,
                ProbeKind::Liveness | ProbeKind::Readiness => !started,
            };
            if gated || p.in_flight || p.next > now {
                continue;
            }
            if !p.state.should_probe(self.started_at, wall) {
                continue;
            }
            p.in_flight = true;
            p.next = seconds::instant_after(now, p.period);
            due.push((p.kind, p.spec.clone()));
        }
        due
    }

    /// Counts a finished run; returns the transition it caused, if any.
    pub fn observe(&mut self, kind: ProbeKind, result: &ProbeResult) -> Option<Transition> {
        let p = self.probes.iter_mut().find(|p| p.kind == kind)?;
        p.in_flight = false;
        p.state.observe(result)
    }
}

/// What a probe needs to run, owned so it can move into its task.
pub struct ProbeJob {
    /// Runs exec probes.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The container's pod-spec JSON (named ports).
    pub container: Value,
    /// The container's name.
    pub name: String,
    /// The runtime id.
    pub container_id: String,
    /// The pod's IP, the default host of network probes.
    pub pod_ip: String,
}

/// Runs one probe in its own task and sends the outcome to `tx`.
pub fn spawn(job: ProbeJob, kind: ProbeKind, spec: Value, tx: mpsc::UnboundedSender<ProbeOutcome>) {
    tokio::spawn(async move {
        let (runtime, id) = (job.runtime.clone(), job.container_id.clone());
        let exec = move |args: Vec<String>| -> BoxFuture<'static, Result<i32, String>> {
            Box::pin(exec_in(runtime.clone(), id.clone(), args))
        };
        let target = ProbeTarget {
            pod_ip: &job.pod_ip,
            container: &job.container,
            exec: &exec,
        };
        let result = run_probe(&spec, &target).await;
        let _ = tx.send(ProbeOutcome {
            container: job.name,
            container_id: job.container_id,
            kind,
            result,
        });
    });
}

/// Runs `args` in the container, discarding its output, and returns the exit code.
async fn exec_in(
    runtime: Arc<dyn ContainerRuntime>,
    id: String,
    args: Vec<String>,
) -> Result<i32, String> {
    let spec = ExecSpec {
        args,
        ..Default::default()
    };
    let mut session = runtime.exec(&id, &spec).await.map_err(|e| e.to_string())?;
    drop(session.stdin.take());
    // Drain both pipes so a chatty probe command never blocks on a full pipe.
    tokio::join!(drain(session.stdout.take()), drain(session.stderr.take()));
    session.wait().await.map_err(|e| e.to_string())
}

async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>) {
    if let Some(mut p) = pipe {
        let _ = tokio::io::copy(&mut p, &mut tokio::io::sink()).await;
    }
}

/// The `Unhealthy` event message of a failed run (upstream `"%s probe failed: %s"`).
pub fn failure_message(kind: ProbeKind, output: &str) -> String {
    let name = match kind {
        ProbeKind::Liveness => "Liveness",
        ProbeKind::Readiness => "Readiness",
        ProbeKind::Startup => "Startup",
    };
    format!("{name} probe failed: {output}")
}

/// The `Killing` event message when a failed probe restarts the container.
pub fn restart_message(kind: ProbeKind, container: &str) -> String {
    let name = match kind {
        ProbeKind::Startup => "startup",
        _ => "liveness",
    };
    format!("Container {container} failed {name} probe, will be restarted")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probes(container: Value) -> ContainerProbes {
        ContainerProbes::new(&container, "id-1", Utc::now())
    }

    #[test]
    fn a_container_without_probes_is_started_and_ready() {
        let mut p = probes(json!({"name": "c"}));
        assert!(p.started() && p.ready());
        assert!(p.take_due(Instant::now()).is_empty());
    }

    #[test]
    fn readiness_starts_failed_and_turns_ready_on_success() {
        let mut p = probes(json!({"readinessProbe": {"exec": {"command": ["true"]}}}));
        assert!(p.started());
        assert!(!p.ready());
        let due = p.take_due(Instant::now());
        assert_eq!(due.len(), 1);
        assert!(p.take_due(Instant::now()).is_empty(), "in flight");
        p.observe(ProbeKind::Readiness, &ProbeResult::Success);
        assert!(p.ready());
    }

    #[test]
    fn startup_gates_liveness_and_readiness_then_stops() {
        let spec = json!({
            "startupProbe": {"tcpSocket": {"port": 80}},
            "livenessProbe": {"tcpSocket": {"port": 80}},
            "readinessProbe": {"tcpSocket": {"port": 80}},
        });
        let mut p = probes(spec);
        assert!(!p.started() && !p.ready());
        let due: Vec<ProbeKind> = p
            .take_due(Instant::now())
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(due, vec![ProbeKind::Startup]);
        p.observe(ProbeKind::Startup, &ProbeResult::Success);
        assert!(p.started());
        let later = Instant::now() + Duration::from_secs(60);
        let due: Vec<ProbeKind> = p.take_due(later).into_iter().map(|d| d.0).collect();
        assert_eq!(due, vec![ProbeKind::Liveness, ProbeKind::Readiness]);
    }

    #[test]
    fn initial_delay_and_period_space_the_runs() {
        let spec = json!({"livenessProbe": {
            "exec": {"command": ["true"]}, "initialDelaySeconds": 5, "periodSeconds": 2}});
        let mut p = probes(spec);
        let now = Instant::now();
        assert!(p.take_due(now).is_empty(), "inside the initial delay");
        let t = now + Duration::from_secs(6);
        assert_eq!(p.take_due(t).len(), 1);
        p.observe(ProbeKind::Liveness, &ProbeResult::Success);
        assert!(p.take_due(t + Duration::from_secs(1)).is_empty());
        assert_eq!(p.take_due(t + Duration::from_secs(2)).len(), 1);
    }

    #[test]
    fn huge_periods_and_thresholds_mean_never_not_a_crash() {
        let spec = json!({"livenessProbe": {
            "exec": {"command": ["true"]}, "periodSeconds": u64::MAX,
            "timeoutSeconds": u64::MAX, "failureThreshold": u64::MAX}});
        let mut p = probes(spec);
        let now = Instant::now();
        assert_eq!(p.take_due(now).len(), 1);
        p.observe(ProbeKind::Liveness, &ProbeResult::Success);
        assert!(p.take_due(now + Duration::from_secs(86_400)).is_empty());
    }

    #[test]
    fn liveness_failure_at_threshold_asks_for_a_restart() {
        let spec =
            json!({"livenessProbe": {"exec": {"command": ["false"]}, "failureThreshold": 2}});
        let mut p = probes(spec);
        let fail = ProbeResult::Failure("exit 1".into());
        assert_eq!(p.observe(ProbeKind::Liveness, &fail), None);
        let t = p.observe(ProbeKind::Liveness, &fail).expect("transition");
        assert_eq!((t.kind, t.health), (ProbeKind::Liveness, Health::Failure));
        assert_eq!(
            restart_message(t.kind, "web"),
            "Container web failed liveness probe, will be restarted"
        );
        assert_eq!(
            failure_message(
                ProbeKind::Readiness,
                "HTTP probe failed with statuscode: 404"
            ),
            "Readiness probe failed: HTTP probe failed with statuscode: 404"
        );
    }
}
