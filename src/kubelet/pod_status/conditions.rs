//! The pod conditions the kubelet owns (`status/generate.go`), with `lastTransitionTime`
//! kept while a condition's status does not change.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::*;

/// A condition before its transition time is settled.
pub(super) struct Cond {
    pub(super) kind: &'static str,
    pub(super) status: bool,
    pub(super) reason: Option<String>,
    pub(super) message: Option<String>,
}

impl Cond {
    pub(super) fn new(kind: &'static str, status: bool) -> Self {
        Cond {
            kind,
            status,
            reason: None,
            message: None,
        }
    }
    pub(super) fn because(mut self, reason: &str, message: Option<String>) -> Self {
        self.reason = Some(reason.to_string());
        self.message = message;
        self
    }
}

/// Go's `%s` of a `[]string`: `[a b]`.
pub(super) fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// Upstream `GeneratePodInitializedCondition`.
pub(super) fn initialized(
    spec: &Value,
    init: &[ApiStatus],
    regular: &[ApiStatus],
    phase: &str,
) -> Cond {
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
pub(super) fn containers_ready(
    spec: &Value,
    init: &[ApiStatus],
    regular: &[ApiStatus],
    phase: &str,
) -> Cond {
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
pub(super) fn pod_ready(spec: &Value, containers_ready: &Cond, kept: &[Value]) -> Cond {
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
pub(super) const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

pub(super) fn condition_json(c: &Cond, old: &[Value], now: DateTime<Utc>) -> Value {
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
