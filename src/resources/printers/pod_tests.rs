use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:00:00Z"},
        "spec": spec,
        "status": status
    })
}

fn cells(p: &Value) -> (String, String, String) {
    status_cells(p, now())
}

fn running(name: &str, restarts: i64) -> Value {
    json!({"name": name, "ready": true, "restartCount": restarts,
           "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}}})
}

#[test]
fn running_pod() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Running", "containerStatuses": [running("a", 0), running("b", 0)]}),
    );
    assert_eq!(cells(&p), ("2/2".into(), "Running".into(), "0".into()));
}

#[test]
fn pending_without_statuses() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending"}),
    );
    assert_eq!(cells(&p), ("0/1".into(), "Pending".into(), "0".into()));
}

#[test]
fn waiting_reason_and_restart_age() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [{
            "name": "a", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:55:00Z"}}
        }]}),
    );
    assert_eq!(
        cells(&p),
        ("0/1".into(), "CrashLoopBackOff".into(), "5 (5m ago)".into())
    );
}

#[test]
fn init_containers_in_progress_and_failing() {
    let spec =
        json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]});
    let done =
        json!({"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    let p = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [done.clone(),
            {"name": "i2", "state": {"running": {}}}]}),
    );
    assert_eq!(cells(&p).1, "Init:1/2");
    let p = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [done.clone(),
            {"name": "i2", "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
    );
    assert_eq!(cells(&p).1, "Init:ErrImagePull");
    let p = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    assert_eq!(cells(&p).1, "Init:0/2");
    let p = pod(
        spec,
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i1", "restartCount": 2, "state": {"terminated": {"exitCode": 3}}}]}),
    );
    assert_eq!(
        cells(&p),
        ("0/1".into(), "Init:ExitCode:3".into(), "2".into())
    );
}

#[test]
fn completed_and_failed_containers() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "a",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(cells(&p), ("0/1".into(), "Completed".into(), "0".into()));
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Failed", "containerStatuses": [{"name": "a",
            "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
    );
    assert_eq!(cells(&p).1, "Signal:9");
}

#[test]
fn completed_container_next_to_a_running_one() {
    let status = |ready: &str| {
        json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [running("a", 0), {"name": "b",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
    };
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(cells(&pod(spec.clone(), status("True"))).1, "Running");
    assert_eq!(cells(&pod(spec, status("False"))).1, "NotReady");
}

#[test]
fn sidecars_count_as_containers() {
    let p = pod(
        json!({"initContainers": [{"name": "s", "restartPolicy": "Always"}],
               "containers": [{"name": "a"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "s", "started": true, "ready": true,
                "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"finishedAt": "2024-05-01T10:00:00Z"}}}],
            "containerStatuses": [running("a", 2)]}),
    );
    assert_eq!(
        cells(&p),
        ("2/2".into(), "Running".into(), "3 (120m ago)".into())
    );
}

#[test]
fn deletion_and_lost_nodes() {
    let mut p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [running("a", 0)]}),
    );
    p["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
    assert_eq!(cells(&p).1, "Terminating");
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(cells(&p).1, "Unknown");
    let lost = pod(
        json!({"containers": []}),
        json!({"phase": "Running", "reason": "NodeLost"}),
    );
    assert_eq!(cells(&lost).1, "NodeLost");
    let mut done = pod(json!({"containers": []}), json!({"phase": "Succeeded"}));
    done["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
    assert_eq!(cells(&done).1, "Succeeded");
}

#[test]
fn scheduling_gated() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(cells(&p).1, "SchedulingGated");
}

#[test]
fn full_row_with_wide_columns() {
    let p = pod(
        json!({"containers": [{"name": "a"}], "nodeName": "pi-1",
               "readinessGates": [{"conditionType": "x/ok"}, {"conditionType": "x/lb"}]}),
        json!({"phase": "Running", "podIPs": [{"ip": "10.42.0.5"}],
               "conditions": [{"type": "x/ok", "status": "True"}],
               "containerStatuses": [running("a", 0)]}),
    );
    let row = (PRINTER.row)(&p, now());
    assert_eq!(row.len(), PRINTER.columns.len());
    assert_eq!(
        row,
        vec![
            json!("web"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("60m"),
            json!("10.42.0.5"),
            json!("pi-1"),
            json!("<none>"),
            json!("1/2")
        ]
    );
    let bare = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending"}),
    );
    let row = (PRINTER.row)(&bare, now());
    assert_eq!(
        &row[5..],
        &[
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}
