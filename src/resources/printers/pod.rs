//! `kubectl get pods`: upstream's `printPod`, including its STATUS rules (init progress
//! `Init:1/2`, init failures `Init:ErrImagePull`, container waiting/terminated reasons,
//! `Terminating`, `Completed` turned back into `Running`/`NotReady` while a sidecar runs) and
//! RESTARTS with the time since the last restart (`3 (5m ago)`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::{human_duration, parse_time};
use super::{age_cell, at, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Pod columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Ready",
        "The aggregate readiness state of this pod for accepting traffic.",
        0,
    ),
    text_column(
        "Status",
        "The aggregate status of the containers in this pod.",
        0,
    ),
    text_column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    text_column("IP", "IP address allocated to the pod.", 1),
    text_column("Node", "The node the pod is bound to.", 1),
    text_column("Nominated Node", "The node the scheduler nominated for this pod.", 1),
    text_column("Readiness Gates", "Pod readiness gates that are true.", 1),
];

/// Why upstream shows `Unknown` for a pod being deleted on an unreachable node.
const NODE_UNREACHABLE_REASON: &str = "NodeLost";

fn state<'a>(status: &'a Value, which: &str) -> Option<&'a Value> {
    at(status, &["state", which]).filter(|v| v.is_object())
}

/// When the container last stopped (`lastState.terminated.finishedAt`).
fn last_termination(status: &Value) -> Option<DateTime<Utc>> {
    parse_time(at(status, &["lastState", "terminated", "finishedAt"]))
}

fn restart_count(status: &Value) -> i64 {
    status
        .get("restartCount")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn condition_status<'a>(obj: &'a Value, type_: &str) -> Option<&'a str> {
    list(obj, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == type_)
        .map(|c| text(c, &["status"]))
}

/// `Terminated` reason text: the reason, else `Signal:N` or `ExitCode:N`.
fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = text(t, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        format!("{prefix}ExitCode:{code}")
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

/// READY, STATUS and RESTARTS of a pod, as upstream's `printPod` computes them.
pub fn status_cells(pod: &Value, now: DateTime<Utc>) -> (String, String, String) {
    let phase = text(pod, &["status", "phase"]);
    let mut reason = match text(pod, &["status", "reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = list(pod, &["status", "conditions"])
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let init_specs = list(pod, &["spec", "initContainers"]);
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| text(c, &["name"]) == name && text(c, &["restartPolicy"]) == "Always")
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| text(c, &["restartPolicy"]) == "Always")
        .count();
    let total = list(pod, &["spec", "containers"]).len() + sidecars;
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (i, c) in list(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts += restart_count(c);
        last_restart = later(last_restart, last_termination(c));
        let is_sidecar = restartable(text(c, &["name"]));
        if is_sidecar {
            sidecar_restarts += restart_count(c);
            last_sidecar_restart = later(last_sidecar_restart, last_termination(c));
        }
        let terminated = state(c, "terminated");
        let waiting_reason = state(c, "waiting").map_or("", |w| text(w, &["reason"]));
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0) {
            continue;
        }
        if is_sidecar && flag(c, "started") {
            if flag(c, "ready") {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            terminated_reason(t, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_status(pod, "Initialized") == Some("True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += restart_count(c);
            last_restart = later(last_restart, last_termination(c));
            let waiting_reason = state(c, "waiting").map_or("", |w| text(w, &["reason"]));
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = state(c, "terminated") {
                reason = terminated_reason(t, "");
            } else if flag(c, "ready") && state(c, "running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_status(pod, "Ready") == Some("True") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = super::is_deleting(pod);
    if deleting && text(pod, &["status", "reason"]) == NODE_UNREACHABLE_REASON {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_text)
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// Readiness gates whose condition is `True`, over all gates (`1/2`), or `<none>`.
fn readiness_gates(pod: &Value) -> String {
    let gates = list(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let met = gates
        .iter()
        .filter(|g| condition_status(pod, text(g, &["conditionType"])) == Some("True"))
        .count();
    format!("{met}/{}", gates.len())
}

fn row(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (ready, status, restarts) = status_cells(pod, now);
    // status.podIPs[0] is the primary IP; older objects may only carry status.podIP.
    let ip = list(pod, &["status", "podIPs"])
        .first()
        .map(|p| text(p, &["ip"]))
        .unwrap_or_else(|| text(pod, &["status", "podIP"]));
    vec![
        name_cell(pod),
        cell(ready),
        cell(status),
        cell(restarts),
        age_cell(pod, now),
        cell(or_none(ip)),
        cell(or_none(text(pod, &["spec", "nodeName"]))),
        cell(or_none(text(pod, &["status", "nominatedNodeName"]))),
        cell(readiness_gates(pod)),
    ]
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
