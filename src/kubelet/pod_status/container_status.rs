//! One container's status as `convertToAPIContainerStatuses` builds it: state, last
//! state, ready/started, and its JSON form.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::*;

/// The API state of one container, as upstream's `v1.ContainerState` (one of three).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum State {
    Waiting { reason: String, message: String },
    Running { started_at: Option<DateTime<Utc>> },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Terminated {
    pub(super) exit_code: i32,
    pub(super) reason: &'static str,
    pub(super) message: Option<String>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) container_id: String,
}

/// The API status of one container before it becomes JSON.
#[derive(Debug, Clone)]
pub(super) struct ApiStatus {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) image_id: String,
    pub(super) container_id: Option<String>,
    pub(super) restart_count: u32,
    pub(super) state: State,
    pub(super) last: Option<Terminated>,
    pub(super) ready: bool,
    pub(super) started: bool,
}

/// Terminated state of an exited instance; reasons as containerd reports them to the kubelet.
pub(super) fn terminated(i: &ContainerInstance) -> Terminated {
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
pub(super) fn api_status(
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

pub(super) fn time_json(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(api_time(t)))
}

pub(super) fn terminated_json(t: &Terminated) -> Value {
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

pub(super) fn state_json(s: &State) -> Value {
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
pub(super) fn volume_mounts_json(spec: &Value) -> Option<Value> {
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

pub(super) fn container_json(s: &ApiStatus, spec: &Value) -> Value {
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
