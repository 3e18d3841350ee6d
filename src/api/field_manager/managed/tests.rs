use serde_json::{json, Value};

use super::*;
use crate::resources::patch_schema::WORKLOAD;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";

fn req<'a>(manager: &'a str, now: &'a str) -> Request<'a> {
    Request {
        manager,
        api_version: "apps/v1".into(),
        subresource: "",
        has_status: true,
        schema: &WORKLOAD,
        now,
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
        "status": {"replicas": 0}
    })
}

/// The entries of `obj`'s `metadata.managedFields`.
fn entries_of(obj: &Value) -> Result<Vec<Entry>, FieldsError> {
    obj.pointer("/metadata/managedFields")
        .map_or(Ok(Vec::new()), entries_in)
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    entries_of(obj)
        .unwrap()
        .into_iter()
        .map(|e| (e.manager, e.operation.as_str().to_string()))
        .collect()
}

fn fields(obj: &Value, manager: &str) -> Value {
    entries_of(obj)
        .unwrap()
        .into_iter()
        .find(|e| e.manager == manager)
        .map(|e| e.fields.to_fields_v1())
        .unwrap_or(Value::Null)
}

#[test]
fn a_create_holds_what_it_set_but_server_metadata_and_status() {
    let mut obj = deployment(1, "nginx");
    track_update(None, &mut obj, &req("kubectl-create", T0));
    assert_eq!(managers(&obj), [("kubectl-create".into(), "Update".into())]);
    assert_eq!(
        fields(&obj, "kubectl-create"),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
        })
    );
    let entry = &obj["metadata"]["managedFields"][0];
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["time"], T0);
    assert_eq!(entry["fieldsType"], "FieldsV1");
}

#[test]
fn an_update_takes_the_fields_it_changes() {
    let mut old = deployment(1, "nginx");
    track_update(None, &mut old, &req("kubectl-create", T0));
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(3);
    new["metadata"]["labels"]["tier"] = json!("front");
    track_update(Some(&old), &mut new, &req("kubectl-scale", T1));
    assert_eq!(
        fields(&new, "kubectl-scale"),
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:replicas": {}}})
    );
    assert!(fields(&new, "kubectl-create")
        .pointer("/f:spec/f:replicas")
        .is_none());
    // a removed field leaves every manager
    let mut gone = new.clone();
    gone["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("app");
    track_update(Some(&new), &mut gone, &req("kubectl-edit", T1));
    assert!(fields(&gone, "kubectl-create")
        .pointer("/f:metadata")
        .is_none());
    assert_eq!(
        fields(&gone, "kubectl-edit"),
        Value::Null,
        "removing holds nothing"
    );
}

#[test]
fn apply_conflicts_with_another_value_unless_forced() {
    let mut live = deployment(1, "nginx");
    track_update(None, &mut live, &req("kubectl-client-side-apply", T0));
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let conflicts = apply(Some(&live), &config, &req("ci", T1), false).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1 at 2026-01-01T00:00:00Z: .spec.replicas"
    );
    let forced = apply(Some(&live), &config, &req("ci", T1), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(fields(&forced, "ci"), json!({"f:spec": {"f:replicas": {}}}));
    assert!(fields(&forced, "kubectl-client-side-apply")
        .pointer("/f:spec/f:replicas")
        .is_none());
    // the same value is shared, not a conflict
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 1}});
    let shared = apply(Some(&live), &same, &req("ci", T1), false).unwrap();
    assert!(fields(&shared, "kubectl-client-side-apply")
        .pointer("/f:spec/f:replicas")
        .is_some());
    assert_eq!(fields(&shared, "ci"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn fields_a_manager_stops_applying_go_unless_someone_else_holds_them() {
    let first = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front", "team": "a"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let live = apply(None, &first, &req("ci", T0), false).unwrap();
    // another manager applies the same team label: it now shares it
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"team": "a"}}});
    let live = apply(Some(&live), &other, &req("ops", T0), false).unwrap();
    // and a controller adds a sidecar
    let mut with_sidecar = live.clone();
    with_sidecar["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "log", "image": "busybox"}));
    track_update(Some(&live), &mut with_sidecar, &req("injector", T0));
    let second = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}});
    let after = apply(Some(&with_sidecar), &second, &req("ci", T1), false).unwrap();
    assert_eq!(
        after["metadata"]["labels"],
        json!({"app": "web", "team": "a"})
    );
    let containers = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "log"]);
    assert_eq!(containers[0]["image"], "nginx:2");
}

#[test]
fn a_dropped_list_item_goes_whole() {
    let first = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]}}}});
    let live = apply(None, &first, &req("ci", T0), false).unwrap();
    let second = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let after = apply(Some(&live), &second, &req("ci", T1), false).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"],
        json!([{"name": "web", "image": "nginx"}])
    );
}

#[test]
fn entries_the_client_sends_replace_the_stored_ones() {
    let mut old = deployment(1, "nginx");
    track_update(None, &mut old, &req("kubectl-client-side-apply", T0));
    // kubectl moves client-side apply's fields to its server-side apply manager
    let mut migrated = old.clone();
    migrated["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    migrated["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    track_update(Some(&old), &mut migrated, &req("kubectl", T1));
    assert_eq!(managers(&migrated), [("kubectl".into(), "Apply".into())]);
    // one empty entry clears them
    let mut cleared = migrated.clone();
    cleared["metadata"]["managedFields"] = json!([{}]);
    track_update(Some(&migrated), &mut cleared, &req("kubectl", T1));
    assert!(cleared["metadata"].get("managedFields").is_none());
}

#[test]
fn status_belongs_to_the_status_subresource() {
    let mut old = deployment(1, "nginx");
    track_update(None, &mut old, &req("kubectl-create", T0));
    let mut new = old.clone();
    new["status"]["replicas"] = json!(1);
    let status = Request {
        subresource: "status",
        ..req("deployment-controller", T1)
    };
    track_update(Some(&old), &mut new, &status);
    let entry = entries_of(&new)
        .unwrap()
        .into_iter()
        .find(|e| e.manager == "deployment-controller")
        .unwrap();
    assert_eq!(entry.subresource, "status");
    assert_eq!(
        entry.fields.to_fields_v1(),
        json!({"f:status": {"f:replicas": {}}})
    );
}

#[test]
fn many_updaters_fold_into_one() {
    let mut obj = deployment(1, "nginx");
    track_update(None, &mut obj, &req("m0", T0));
    for i in 1..=12 {
        let mut next = obj.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("x");
        let manager = format!("m{i}");
        track_update(Some(&obj), &mut next, &req(&manager, T1));
        obj = next;
    }
    let all = managers(&obj);
    assert!(all.len() <= MAX_UPDATE_MANAGERS, "{all:?}");
    assert!(all.iter().any(|(m, _)| m == ANCIENT_MANAGER));
}
