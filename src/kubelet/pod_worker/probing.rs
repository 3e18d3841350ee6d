//! The pod worker's side of probes: start the runs that are due for each running container,
//! count their outcomes, record `Unhealthy` events, and restart a container whose liveness
//! or startup probe failed (SIGTERM, then SIGKILL after the grace period), as upstream's
//! prober manager and `killContainer` do.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::{self, PodRef};
use super::Worker;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::probe::{Health, ProbeKind, ProbeResult};
use crate::kubelet::prober::{self, ContainerProbes, ProbeJob, ProbeOutcome};
use crate::kubelet::runtime::ContainerState;
use crate::resources::seconds;

/// The grace period when neither the probe nor the pod sets one (the API default).
const DEFAULT_GRACE_SECONDS: u64 = 30;

impl Worker {
    /// Starts the probe runs that are due; escalates probe-triggered kills past their grace.
    pub(super) async fn schedule_probes<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let Some(pod_ip) = self.sandbox.as_ref().map(|s| s.pod_ip.clone()) else {
            return;
        };
        let now = Instant::now();
        for c in p
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c["name"].as_str().unwrap_or_default();
            let Some(t) = self.containers.get_mut(name) else {
                continue;
            };
            let running = match (&t.id, &t.status) {
                (Some(id), Some(s)) if s.state == ContainerState::Running => {
                    Some((id.clone(), s.started_at))
                }
                _ => None,
            };
            let Some((id, started_at)) = running else {
                t.probes = None;
                t.kill_after = None;
                continue;
            };
            if t.kill_after.is_some_and(|at| at <= now) {
                tracing::info!(container = name, "grace period over; killing");
                let _ = ctx.runtime.kill(&id, libc::SIGKILL).await;
                t.kill_after = None;
            }
            if t.probes.as_ref().map(ContainerProbes::container_id) != Some(id.as_str()) {
                let started_at = started_at.unwrap_or_else(chrono::Utc::now);
                t.probes = Some(ContainerProbes::new(c, &id, started_at));
            }
            let Some(probes) = t.probes.as_mut() else {
                continue;
            };
            for (kind, spec) in probes.take_due(now) {
                let job = ProbeJob {
                    runtime: ctx.runtime.clone(),
                    container: c.clone(),
                    name: name.to_string(),
                    container_id: id.clone(),
                    pod_ip: pod_ip.clone(),
                };
                prober::spawn(job, kind, spec, self.probe_tx.clone());
            }
        }
    }

    /// Counts one probe run; a failed liveness or startup probe restarts the container.
    pub(super) async fn on_probe<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        p: &Value,
        outcome: ProbeOutcome,
    ) {
        let Some(t) = self.containers.get_mut(&outcome.container) else {
            return;
        };
        let Some(probes) = t
            .probes
            .as_mut()
            .filter(|pr| pr.container_id() == outcome.container_id)
        else {
            return; // the container was replaced while the probe ran
        };
        let transition = probes.observe(outcome.kind, &outcome.result);
        let involved = PodRef::of_value(p);
        if let ProbeResult::Failure(output) = &outcome.result {
            let message = prober::failure_message(outcome.kind, output);
            tracing::info!(container = %outcome.container, %message, "probe failed");
            events::warning(ctx, &involved, "Unhealthy", &message);
        }
        let Some(transition) = transition else {
            return;
        };
        if transition.health != Health::Failure || transition.kind == ProbeKind::Readiness {
            return;
        }
        let message = prober::restart_message(transition.kind, &outcome.container);
        tracing::info!(container = %outcome.container, "{message}");
        events::normal(ctx, &involved, "Killing", &message);
        let grace = grace_period(p, &outcome.container, transition.kind);
        let _ = ctx.runtime.kill(&outcome.container_id, libc::SIGTERM).await;
        t.kill_after = Some(seconds::instant_after(Instant::now(), grace));
    }
}

/// The probe's `terminationGracePeriodSeconds`, else the pod's (upstream
/// `killContainer` with a probe override).
fn grace_period(p: &Value, container: &str, kind: ProbeKind) -> Duration {
    let field = match kind {
        ProbeKind::Startup => "startupProbe",
        _ => "livenessProbe",
    };
    let from_probe = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c[field]["terminationGracePeriodSeconds"].as_u64());
    let from_pod = p
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_u64);
    seconds::wait_unsigned(from_probe.or(from_pod).unwrap_or(DEFAULT_GRACE_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn huge_grace_periods_are_capped() {
        let p = json!({"spec": {"terminationGracePeriodSeconds": u64::MAX, "containers": [
            {"name": "web", "livenessProbe": {"terminationGracePeriodSeconds": u64::MAX}}]}});
        let grace = grace_period(&p, "web", ProbeKind::Liveness);
        assert_eq!(grace, seconds::LONGEST);
        // what the kill timer does with it
        let now = Instant::now();
        assert!(seconds::instant_after(now, grace) > now);
    }
}
