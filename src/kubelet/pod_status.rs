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

/// The API state of one container, as upstream's `v1.ContainerState` (one of three).
#[derive(Debug, Clone, PartialEq)]
enum State {
    Waiting { reason: String, message: String },
    Running { started_at: Option<DateTime<Utc>> },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq)]
struct Terminated {
    exit_code: i32,
    reason: &'static str,
    message: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    container_id: String,
}

/// The API status of one container before it becomes JSON.
#[derive(Debug, Clone)]
struct ApiStatus {
    name: String,
    image: String,
    image_id: String,
    container_id: Option<String>,
    restart_count: u32,
    state: State,
    last: Option<Terminated>,
    ready: bool,
    started: bool,
}

/// Terminated state of an exited instance; reasons as containerd reports them to the kubelet.
fn terminated(i: &ContainerInstance) -> Terminated {
    let code = i.status.exit_code.unwrap_or(0);
    let reason = if i.status.oom_killed {
        "OOMKilled"
    } else if code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Terminated {
        exit_code: code,
        reason,
        message: i.message.clone().filter(|m| !m.is_empty()),
        started_at: i.status.started_at,
        finished_at: i.status.finished_at,
        container_id: i.container_id.clone(),
    }
}

/// One container's API status (upstream `convertToAPIContainerStatuses` for one name).
fn api_status(
    spec: &Value,
    rec: Option<&ContainerRecord>,
    has_init: bool,
    is_init: bool,
) -> ApiStatus {
    let name = spec["name"].as_str().unwrap_or_default().to_string();
    let spec_image = spec["image"].as_str().unwrap_or_default().to_string();
    let default_reason = if has_init {
        POD_INITIALIZING
    } else {
        CONTAINER_CREATING
    };
    let mut s = ApiStatus {
        name,
        image: spec_image,
        image_id: String::new(),
        container_id: None,
        restart_count: 0,
        state: State::Waiting {
            reason: default_reason.to_string(),
            message: String::new(),
        },
        last: None,
        ready: false,
        started: false,
    };
    let Some(rec) = rec else { return s };
    s.restart_count = rec.restart_count;
    s.last = rec.last_terminated.as_ref().map(terminated);
    if let Some(cur) = &rec.current {
        if !rec.image.is_empty() {
            s.image = rec.image.clone();
        }
        s.image_id = rec.image_id.clone();
        s.container_id = Some(cur.container_id.clone());
        s.state = match cur.status.state {
            ContainerState::Running => State::Running {
                started_at: cur.status.started_at,
            },
            // Created but not started is "waiting to be running", with no reason.
            ContainerState::Created => State::Waiting {
                reason: String::new(),
                message: String::new(),
            },
            ContainerState::Exited => State::Terminated(terminated(cur)),
        };
    }
    // A failed start or a back-off turns the state into Waiting and the exited instance
    // into lastState; an init container that succeeded is never restarted, so never waits.
    let init_done = is_init && matches!(&s.state, State::Terminated(t) if t.exit_code == 0);
    if let (Some(w), false) = (&rec.waiting, init_done) {
        if let State::Terminated(t) = &s.state {
            s.last = Some(t.clone());
        }
        s.state = State::Waiting {
            reason: w.reason.clone(),
            message: w.message.clone(),
        };
    }
    let running = matches!(s.state, State::Running { .. });
    s.started = running && rec.started;
    // The prober marks a regular init container ready once it exited 0; everything else is
    // ready only while running and its readiness probe passes.
    s.ready = if is_init && !is_sidecar(spec) {
        matches!(&s.state, State::Terminated(t) if t.exit_code == 0)
    } else {
        running && rec.ready
    };
    s
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

/// The pod phase (upstream `getPhase`).
fn phase(spec: &Value, init: &[ApiStatus], regular: &[ApiStatus], terminal: bool) -> &'static str {
    let (mut pending_init, mut failed_init) = (0, 0);
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in list(&spec["initContainers"]) {
        let Some(s) = find(init, c["name"].as_str().unwrap_or_default()) else {
            pending_init += 1;
            continue;
        };
        if is_sidecar(c) {
            // Sidecars count like regular containers, except that their exit is ignored.
            match &s.state {
                State::Running { .. } => {
                    running += 1;
                    if !s.started {
                        pending_init += 1;
                    }
                }
                State::Waiting { .. } if s.last.is_none() => {
                    pending_init += 1;
                    waiting += 1;
                }
                _ => {}
            }
            continue;
        }
        match (&s.state, &s.last) {
            (State::Running { .. }, _) => pending_init += 1,
            (State::Terminated(t), _) | (State::Waiting { .. }, Some(t)) => {
                if t.exit_code != 0 {
                    failed_init += 1;
                }
            }
            (State::Waiting { .. }, None) => pending_init += 1,
        }
    }
    for s in regular {
        match (&s.state, &s.last) {
            (State::Running { .. }, _) => running += 1,
            (State::Terminated(t), _) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            (State::Waiting { .. }, Some(_)) => stopped += 1,
            (State::Waiting { .. }, None) => waiting += 1,
        }
    }
    let policy = spec["restartPolicy"].as_str().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_regular_started(regular)) || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    if terminal {
        return if stopped == succeeded {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    match policy {
        "Never" | "OnFailure" if stopped == succeeded => "Succeeded",
        "Never" => "Failed",
        // Always restarts everything; OnFailure restarts the failed ones.
        _ => "Running",
    }
}

/// A condition before its transition time is settled.
struct Cond {
    kind: &'static str,
    status: bool,
    reason: Option<String>,
    message: Option<String>,
}

impl Cond {
    fn new(kind: &'static str, status: bool) -> Self {
        Cond {
            kind,
            status,
            reason: None,
            message: None,
        }
    }
    fn because(mut self, reason: &str, message: Option<String>) -> Self {
        self.reason = Some(reason.to_string());
        self.message = message;
        self
    }
}

/// Go's `%s` of a `[]string`: `[a b]`.
fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// Upstream `GeneratePodInitializedCondition`.
fn initialized(spec: &Value, init: &[ApiStatus], regular: &[ApiStatus], phase: &str) -> Cond {
    let specs = list(&spec["initContainers"]);
    if specs.is_empty() {
        return Cond::new("Initialized", true);
    }
    if phase == "Succeeded" {
        return Cond::new("Initialized", true).because("PodCompleted", None);
    }
    if any_regular_started(regular) {
        return Cond::new("Initialized", true);
    }
    let incomplete: Vec<String> = specs
        .iter()
        .filter_map(|c| {
            let name = c["name"].as_str().unwrap_or_default();
            let s = find(init, name)?;
            let done = if is_sidecar(c) { s.started } else { s.ready };
            (!done).then(|| name.to_string())
        })
        .collect();
    if incomplete.is_empty() {
        return Cond::new("Initialized", true);
    }
    let message = format!(
        "containers with incomplete status: {}",
        go_list(&incomplete)
    );
    Cond::new("Initialized", false).because("ContainersNotInitialized", Some(message))
}

/// Upstream `GenerateContainersReadyCondition`.
fn containers_ready(spec: &Value, init: &[ApiStatus], regular: &[ApiStatus], phase: &str) -> Cond {
    match phase {
        "Succeeded" => return Cond::new("ContainersReady", false).because("PodCompleted", None),
        "Failed" => return Cond::new("ContainersReady", false).because("PodFailed", None),
        _ => {}
    }
    let sidecars = list(&spec["initContainers"])
        .iter()
        .filter(|c| is_sidecar(c))
        .filter_map(|c| find(init, c["name"].as_str().unwrap_or_default()));
    let unready: Vec<String> = sidecars
        .chain(regular.iter())
        .filter(|s| !s.ready)
        .map(|s| s.name.clone())
        .collect();
    if unready.is_empty() {
        return Cond::new("ContainersReady", true);
    }
    let message = format!("containers with unready status: {}", go_list(&unready));
    Cond::new("ContainersReady", false).because("ContainersNotReady", Some(message))
}

/// Upstream `GeneratePodReadyCondition`: ContainersReady, then the readiness gates.
fn pod_ready(spec: &Value, containers_ready: &Cond, kept: &[Value]) -> Cond {
    if !containers_ready.status {
        let mut c = Cond::new("Ready", false);
        c.reason = containers_ready.reason.clone();
        c.message = containers_ready.message.clone();
        return c;
    }
    let mut unready = Vec::new();
    for gate in list(&spec["readinessGates"]) {
        let kind = gate["conditionType"].as_str().unwrap_or_default();
        match kept.iter().find(|c| c["type"] == kind) {
            None => unready.push(format!(
                "corresponding condition of pod readiness gate {kind:?} does not exist."
            )),
            Some(c) if c["status"] != "True" => unready.push(format!(
                "the status of pod readiness gate {kind:?} is not \"True\", but {}",
                c["status"].as_str().unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    if unready.is_empty() {
        return Cond::new("Ready", true);
    }
    Cond::new("Ready", false).because("ReadinessGatesNotReady", Some(unready.join(", ")))
}

/// Condition types the kubelet owns and rewrites (upstream `PodConditionByKubelet`).
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

fn condition_json(c: &Cond, old: &[Value], now: DateTime<Utc>) -> Value {
    let status = if c.status { "True" } else { "False" };
    let since = old
        .iter()
        .find(|o| o["type"] == c.kind && o["status"] == status)
        .and_then(|o| o.get("lastTransitionTime").cloned())
        .filter(|t| !t.is_null())
        .unwrap_or_else(|| json!(api_time(now)));
    let mut m = Map::new();
    m.insert("type".into(), json!(c.kind));
    m.insert("status".into(), json!(status));
    m.insert("lastProbeTime".into(), Value::Null);
    m.insert("lastTransitionTime".into(), since);
    if let Some(r) = &c.reason {
        m.insert("reason".into(), json!(r));
    }
    if let Some(msg) = &c.message {
        m.insert("message".into(), json!(msg));
    }
    Value::Object(m)
}

fn time_json(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(api_time(t)))
}

fn terminated_json(t: &Terminated) -> Value {
    let mut m = Map::new();
    m.insert("exitCode".into(), json!(t.exit_code));
    m.insert("reason".into(), json!(t.reason));
    if let Some(msg) = &t.message {
        m.insert("message".into(), json!(msg));
    }
    m.insert("startedAt".into(), time_json(t.started_at));
    m.insert("finishedAt".into(), time_json(t.finished_at));
    m.insert("containerID".into(), json!(t.container_id));
    json!({ "terminated": m })
}

fn state_json(s: &State) -> Value {
    match s {
        State::Waiting { reason, message } => {
            let mut m = Map::new();
            if !reason.is_empty() {
                m.insert("reason".into(), json!(reason));
            }
            if !message.is_empty() {
                m.insert("message".into(), json!(message));
            }
            json!({ "waiting": m })
        }
        State::Running { started_at } => {
            json!({ "running": { "startedAt": time_json(*started_at) } })
        }
        State::Terminated(t) => terminated_json(t),
    }
}

/// Mounts as the status reports them (RecursiveReadOnlyMounts, on by default in v1.32).
fn volume_mounts_json(spec: &Value) -> Option<Value> {
    let mounts: Vec<Value> = list(&spec["volumeMounts"])
        .iter()
        .map(|v| {
            let read_only = v["readOnly"].as_bool().unwrap_or(false);
            let mut m = json!({ "name": v["name"], "mountPath": v["mountPath"] });
            if read_only {
                m["readOnly"] = json!(true);
                m["recursiveReadOnly"] = json!("Disabled");
            }
            m
        })
        .collect();
    (!mounts.is_empty()).then_some(Value::Array(mounts))
}

fn container_json(s: &ApiStatus, spec: &Value) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(s.name));
    m.insert("image".into(), json!(s.image));
    m.insert("imageID".into(), json!(s.image_id));
    if let Some(id) = &s.container_id {
        m.insert("containerID".into(), json!(id));
    }
    m.insert("ready".into(), json!(s.ready));
    m.insert("restartCount".into(), json!(s.restart_count));
    m.insert("started".into(), json!(s.started));
    m.insert("state".into(), state_json(&s.state));
    m.insert(
        "lastState".into(),
        s.last.as_ref().map_or(json!({}), terminated_json),
    );
    if let Some(v) = volume_mounts_json(spec) {
        m.insert("volumeMounts".into(), v);
    }
    Value::Object(m)
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
    if let Some(q) = old.get("qosClass").filter(|v| !v.is_null()) {
        status.insert("qosClass".into(), q.clone());
    }
    Value::Object(status)
}

#[cfg(test)]
#[path = "pod_status_tests.rs"]
mod tests;
