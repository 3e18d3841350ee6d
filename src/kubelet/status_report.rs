//! The pod status the kubelet reports, as upstream's `generateAPIPodStatus` builds it: phase,
//! conditions, container statuses with state, last state and restart count, pod and host IPs.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::container_start::StartError;
use super::runtime::{ContainerState, ContainerStatus};

/// What the kubelet knows about one container of a pod.
#[derive(Debug, Clone, Default)]
pub struct ContainerRecord {
    /// Container name.
    pub name: String,
    /// Image as written in the spec.
    pub image: String,
    /// `repo@digest` of the image in use.
    pub image_id: String,
    /// Current runtime id.
    pub id: Option<String>,
    /// Restarts so far (the current attempt number).
    pub restart_count: u32,
    /// Current runtime state.
    pub status: Option<ContainerStatus>,
    /// The previous attempt's final state.
    pub last_terminated: Option<ContainerStatus>,
    /// Why it is not running, if it is waiting.
    pub waiting: Option<StartError>,
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null)
}

fn terminated(s: &ContainerStatus, id: Option<&str>) -> Value {
    let code = s.exit_code.unwrap_or(0);
    let reason = if s.oom_killed {
        "OOMKilled"
    } else if code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let mut t = json!({"exitCode": code, "reason": reason, "startedAt": time(s.started_at), "finishedAt": time(s.finished_at)});
    if let Some(sig) = s.signal {
        t["signal"] = json!(sig);
    }
    if let Some(id) = id {
        t["containerID"] = json!(format!("bramble://{id}"));
    }
    json!({"terminated": t})
}

fn container_status(r: &ContainerRecord) -> Value {
    let state = match (&r.waiting, &r.status) {
        (Some(w), _) => json!({"waiting": {"reason": w.reason, "message": w.message}}),
        (None, Some(s)) if s.state == ContainerState::Running => {
            json!({"running": {"startedAt": time(s.started_at)}})
        }
        (None, Some(s)) if s.state == ContainerState::Exited => terminated(s, r.id.as_deref()),
        _ => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let running = state.get("running").is_some();
    let mut out = json!({
        "name": r.name,
        "image": r.image,
        "imageID": r.image_id,
        "state": state,
        "lastState": r.last_terminated.as_ref().map(|s| terminated(s, None)).unwrap_or_else(|| json!({})),
        "ready": running,
        "started": running,
        "restartCount": r.restart_count,
    });
    if let Some(id) = &r.id {
        out["containerID"] = json!(format!("bramble://{id}"));
    }
    out
}

fn exited(r: &ContainerRecord) -> Option<i32> {
    r.status
        .as_ref()
        .filter(|s| s.state == ContainerState::Exited)
        .map(|s| s.exit_code.unwrap_or(1))
}

/// Upstream's `getPhase`.
fn phase(pod: &Value, init: &[ContainerRecord], main: &[ContainerRecord]) -> &'static str {
    let policy = pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if init.iter().any(|r| exited(r) != Some(0)) {
        let failed = policy == "Never" && init.iter().any(|r| exited(r).is_some_and(|c| c != 0));
        return if failed { "Failed" } else { "Pending" };
    }
    let running = main
        .iter()
        .filter(|r| {
            r.waiting.is_none()
                && r.status
                    .as_ref()
                    .is_some_and(|s| s.state == ContainerState::Running)
        })
        .count();
    let done: Vec<i32> = main
        .iter()
        .filter(|r| r.waiting.is_none())
        .filter_map(exited)
        .collect();
    let waiting = main.len() - running - done.len();
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    match policy {
        "Always" => "Running",
        "OnFailure" if done.iter().all(|c| *c == 0) => "Succeeded",
        "OnFailure" => "Running",
        _ if done.iter().all(|c| *c == 0) => "Succeeded",
        _ => "Failed",
    }
}

fn condition(old: &[Value], kind: &str, ok: bool, reason: &str, message: String) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = old
        .iter()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(crate::api::registry::meta::now()));
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if !ok {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

/// The whole status to report for `pod`.
pub fn pod_status(
    pod: &Value,
    init: &[ContainerRecord],
    main: &[ContainerRecord],
    pod_ip: Option<&str>,
    host_ip: &str,
    start_time: &str,
) -> Value {
    let old = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let phase = phase(pod, init, main);
    let unready: Vec<&str> = main
        .iter()
        .filter(|r| {
            !(r.waiting.is_none()
                && r.status
                    .as_ref()
                    .is_some_and(|s| s.state == ContainerState::Running))
        })
        .map(|r| r.name.as_str())
        .collect();
    let uninit: Vec<&str> = init
        .iter()
        .filter(|r| exited(r) != Some(0))
        .map(|r| r.name.as_str())
        .collect();
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let ready = unready.is_empty() && !terminal;
    let (ready_reason, unready_msg) = if terminal {
        ("PodCompleted", String::new())
    } else {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{}]", unready.join(" ")),
        )
    };
    let mut conditions = vec![
        condition(
            &old,
            "PodReadyToStartContainers",
            pod_ip.is_some(),
            "",
            String::new(),
        ),
        condition(
            &old,
            "Initialized",
            uninit.is_empty(),
            "ContainersNotInitialized",
            format!("containers with incomplete status: [{}]", uninit.join(" ")),
        ),
        condition(&old, "Ready", ready, ready_reason, unready_msg.clone()),
        condition(&old, "ContainersReady", ready, ready_reason, unready_msg),
    ];
    if let Some(s) = old.iter().find(|c| c["type"] == "PodScheduled") {
        conditions.push(s.clone());
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "containerStatuses": main.iter().map(container_status).collect::<Vec<_>>(),
    });
    if !init.is_empty() {
        status["initContainerStatuses"] =
            json!(init.iter().map(container_status).collect::<Vec<_>>());
    }
    if let Some(ip) = pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(q) = pod.pointer("/status/qosClass") {
        status["qosClass"] = q.clone();
    }
    status
}
