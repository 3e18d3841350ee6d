//! The pod's API status from what the kubelet observed of its containers.
//!
//! The pod worker keeps, per container, a [`ContainerRecord`] (current and previous runtime
//! instance, restart count, why it is waiting). [`pod_status`] turns those into the
//! `PodStatus` that upstream kubelet v1.32 writes: container statuses as
//! `convertToAPIContainerStatuses` builds them, the phase from `getPhase`, and the conditions
//! from `status/generate.go`, with `lastTransitionTime` kept while a condition's status does
//! not change (the status manager's `updateLastTransitionTime`). Pure: no I/O, `now` given.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::kubelet::runtime::{ContainerState, ContainerStatus};

mod conditions;
mod container_status;
mod ephemeral;
mod phase;

use conditions::*;
use container_status::*;
use phase::*;

/// Waiting reason of a container not created yet in a pod without init containers.
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// Waiting reason of a container not created yet in a pod with init containers.
pub const POD_INITIALIZING: &str = "PodInitializing";

/// One runtime instance of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInstance {
    /// `bramble://<id>`.
    pub container_id: String,
    /// What the runtime reports.
    pub status: ContainerStatus,
    /// The termination message read from the container, if any.
    pub message: Option<String>,
}

/// Why a container is waiting (the kubelet's `reasonCache` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// `ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerConfigError`, ….
    pub reason: String,
    /// Human-readable detail; empty for none.
    pub message: String,
}

/// What the pod worker knows about one container of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Container name from the pod spec.
    pub name: String,
    /// Image as written in the pod spec.
    pub image: String,
    /// Resolved image (`docker.io/library/busybox@sha256:…`); empty before the pull.
    pub image_id: String,
    /// Times the container was restarted.
    pub restart_count: u32,
    /// The latest instance, if one was created.
    pub current: Option<ContainerInstance>,
    /// The instance before it, shown as `lastState` when it terminated.
    pub last_terminated: Option<ContainerInstance>,
    /// Set when the container failed to start or waits on a back-off.
    pub waiting: Option<Waiting>,
    /// Readiness probe result (true when it has none).
    pub ready: bool,
    /// Startup probe result (true when it has none).
    pub started: bool,
}

/// Everything besides the pod object that goes into its status.
#[derive(Debug, Clone, Default)]
pub struct ObservedPod<'a> {
    /// Records of the init containers.
    pub init_containers: &'a [ContainerRecord],
    /// Records of the regular containers.
    pub containers: &'a [ContainerRecord],
    /// Records of the ephemeral containers.
    pub ephemeral_containers: &'a [ContainerRecord],
    /// The pod sandbox's IP, once its network is set up.
    pub pod_ip: Option<&'a str>,
    /// The node's IP.
    pub host_ip: &'a str,
    /// When the kubelet first accepted the pod (kept if the status already has one).
    pub start_time: Option<DateTime<Utc>>,
    /// Whether the sandbox (netns, network) is ready for containers.
    pub sandbox_ready: bool,
    /// Whether the worker will run no more containers of this pod (deleted or finished).
    pub pod_is_terminal: bool,
}

/// RFC 3339 with whole seconds, as metav1.Time serializes.
pub fn api_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn is_sidecar(spec: &Value) -> bool {
    spec["restartPolicy"] == "Always"
}

fn find<'a>(statuses: &'a [ApiStatus], name: &str) -> Option<&'a ApiStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Whether a regular container ever started (upstream `HasAnyRegularContainerStarted`).
fn any_regular_started(containers: &[ApiStatus]) -> bool {
    containers
        .iter()
        .any(|s| matches!(s.state, State::Running { .. } | State::Terminated(_)))
}

/// The pod's `status` (upstream `generateAPIPodStatus` plus the status manager's merge).
pub fn pod_status(pod: &Value, observed: &ObservedPod<'_>, now: DateTime<Utc>) -> Value {
    let spec = &pod["spec"];
    let old = &pod["status"];
    let init_specs = list(&spec["initContainers"]);
    let has_init = !init_specs.is_empty();
    let build = |specs: &[Value], recs: &[ContainerRecord], is_init: bool| -> Vec<ApiStatus> {
        specs
            .iter()
            .map(|c| {
                let rec = recs.iter().find(|r| c["name"] == r.name.as_str());
                api_status(c, rec, has_init, is_init)
            })
            .collect()
    };
    let init = build(init_specs, observed.init_containers, true);
    let mut regular = build(list(&spec["containers"]), observed.containers, false);

    let mut phase = phase(spec, &init, &regular, observed.pod_is_terminal);
    // A terminal phase never goes back.
    let old_phase = old["phase"].as_str().unwrap_or_default();
    if matches!(old_phase, "Succeeded" | "Failed") {
        phase = if old_phase == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }

    let old_conditions = list(&old["conditions"]);
    let kept: Vec<Value> = old_conditions
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
        .cloned()
        .collect();
    let ready_to_start = Cond::new("PodReadyToStartContainers", observed.sandbox_ready);
    let init_cond = initialized(spec, &init, &regular, phase);
    let cr = containers_ready(spec, &init, &regular, phase);
    let ready = pod_ready(spec, &cr, &kept);
    let scheduled = Cond::new("PodScheduled", true);
    let mut conditions = kept;
    for c in [&ready_to_start, &init_cond, &ready, &cr, &scheduled] {
        conditions.push(condition_json(c, old_conditions, now));
    }

    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    if phase == old_phase {
        for key in ["reason", "message"] {
            if let Some(v) = old.get(key).filter(|v| !v.is_null()) {
                status.insert(key.into(), v.clone());
            }
        }
    }
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!(observed.host_ip));
    status.insert("hostIPs".into(), json!([{ "ip": observed.host_ip }]));
    if let Some(ip) = observed.pod_ip {
        status.insert("podIP".into(), json!(ip));
        status.insert("podIPs".into(), json!([{ "ip": ip }]));
    }
    let start = old
        .get("startTime")
        .filter(|v| !v.is_null())
        .cloned()
        .or_else(|| observed.start_time.map(|t| json!(api_time(t))));
    if let Some(t) = start {
        status.insert("startTime".into(), t);
    }
    if has_init {
        let v = init
            .iter()
            .zip(init_specs)
            .map(|(s, c)| container_json(s, c))
            .collect();
        status.insert("initContainerStatuses".into(), Value::Array(v));
    }
    // Upstream sorts regular container statuses by name.
    let specs = list(&spec["containers"]);
    regular.sort_by(|a, b| a.name.cmp(&b.name));
    let v = regular
        .iter()
        .map(|s| {
            let c = specs
                .iter()
                .find(|c| c["name"] == s.name.as_str())
                .unwrap_or(&Value::Null);
            container_json(s, c)
        })
        .collect();
    status.insert("containerStatuses".into(), Value::Array(v));
    if let Some(v) = ephemeral::ephemeral_statuses(spec, observed.ephemeral_containers, has_init) {
        status.insert("ephemeralContainerStatuses".into(), v);
    }
    if let Some(q) = old.get("qosClass").filter(|v| !v.is_null()) {
        status.insert("qosClass".into(), q.clone());
    }
    Value::Object(status)
}

#[cfg(test)]
mod tests;
