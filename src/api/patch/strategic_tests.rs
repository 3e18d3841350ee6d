//! Strategic merge patch behaviour a kubectl user sees: client-side apply, directives, merge
//! keys, and the errors upstream answers with.

use serde_json::{json, Value};

use super::{apply, PatchError, PatchType};
use crate::resources::patch_schema::{self, PatchSchema};

fn smp(schema: &PatchSchema, original: Value, patch: Value) -> Result<Value, PatchError> {
    apply(
        PatchType::StrategicMerge,
        schema,
        &original,
        patch.to_string().as_bytes(),
    )
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default()
}

/// A live pod as the server stores it: defaults filled in, status set.
fn live_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                 "terminationMessagePath": "/dev/termination-log",
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "1"}]},
                {"name": "sidecar", "image": "busybox", "imagePullPolicy": "Always"}
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
            "nodeSelector": {"disk": "hdd", "zone": "1"},
            "volumes": [{"name": "data", "hostPath": {"path": "/srv", "type": ""}}]
        },
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}
    })
}

#[test]
fn kubectl_apply_changes_an_image_and_drops_an_env_var() {
    // What `kubectl apply` sends when the manifest's web image changes and DEBUG is removed.
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "MODE"}],
                "env": [{"$patch": "delete", "name": "DEBUG"}],
                "image": "nginx:1.27",
                "name": "web"
            }]
        }
    });
    let mut want = live_pod();
    want["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}\n"});
    want["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    want["spec"]["containers"][0]["env"] = json!([{"name": "MODE", "value": "prod"}]);
    assert_eq!(smp(&patch_schema::POD, live_pod(), patch).unwrap(), want);
}

#[test]
fn kubectl_apply_orders_containers_like_upstream() {
    // Manifest went from [web, sidecar] to [sidecar, metrics]; "injected" is server-only.
    let mut live = live_pod();
    live["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "injected", "image": "proxy"}));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "metrics"}],
        "containers": [{"name": "metrics", "image": "prom"}, {"$patch": "delete", "name": "web"}]
    }});
    let merged = smp(&patch_schema::POD, live, patch).unwrap();
    // Upstream places the server-only item by the live list as its in-place merge left it.
    assert_eq!(
        names(&merged["spec"]["containers"]),
        ["sidecar", "injected", "metrics"]
    );
}

#[test]
fn set_element_order_alone_reorders_a_list() {
    let patch =
        json!({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}});
    let merged = smp(&patch_schema::POD, live_pod(), patch).unwrap();
    assert_eq!(names(&merged["spec"]["containers"]), ["sidecar", "web"]);
}

#[test]
fn merge_keys_merge_items_and_append_new_ones() {
    let patch = json!({"spec": {"containers": [
        {"name": "web", "ports": [{"containerPort": 443}], "env": [{"name": "MODE", "value": "dev"}]},
        {"name": "new", "image": "redis"}
    ]}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    let merged = smp(&patch_schema::POD, live_pod(), patch).unwrap();
    let web = &merged["spec"]["containers"][0];
    assert_eq!(
        web["ports"],
        json!([{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(web["env"][0], json!({"name": "MODE", "value": "dev"}));
    assert_eq!(web["env"][1]["name"], "DEBUG");
    // Items new to the live list follow the patch's order, ahead of server-only ones.
    assert_eq!(
        names(&merged["spec"]["containers"]),
        ["web", "new", "sidecar"]
    );
    let conditions = &merged["status"]["conditions"];
    assert_eq!(
        conditions,
        &json!([{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn null_deletes_and_atomic_lists_are_replaced() {
    let patch = json!({
        "metadata": {"labels": {"app": null, "tier": "front"}},
        "spec": {"tolerations": [{"key": "c", "operator": "Exists"}], "nodeSelector": {"zone": null}}
    });
    let merged = smp(&patch_schema::POD, live_pod(), patch).unwrap();
    assert_eq!(merged["metadata"]["labels"], json!({"tier": "front"}));
    assert_eq!(
        merged["spec"]["tolerations"],
        json!([{"key": "c", "operator": "Exists"}])
    );
    assert_eq!(merged["spec"]["nodeSelector"], json!({"disk": "hdd"}));
}

#[test]
fn finalizers_are_a_set_on_every_kind() {
    let cm = json!({"metadata": {"name": "c", "finalizers": ["x", "y"]}, "data": {"k": "v"}});
    let merged = smp(
        &patch_schema::NONE,
        cm.clone(),
        json!({"metadata": {"finalizers": ["z", "x"]}}),
    );
    assert_eq!(
        merged.unwrap()["metadata"]["finalizers"],
        json!(["z", "x", "y"])
    );
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
    assert_eq!(
        smp(&patch_schema::NONE, cm, patch).unwrap()["metadata"]["finalizers"],
        json!(["y"])
    );
}

#[test]
fn object_directives_replace_or_delete() {
    let patch = json!({"spec": {"nodeSelector": {"$patch": "replace", "disk": "ssd"}}, "status": {"$patch": "delete"}});
    let merged = smp(&patch_schema::POD, live_pod(), patch).unwrap();
    assert_eq!(merged["spec"]["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(merged["status"], json!({}));
}

#[test]
fn list_replace_directive_and_retain_keys() {
    let patch = json!({"spec": {
        "containers": [{"$patch": "replace"}, {"name": "only", "image": "alpine"}],
        "volumes": [{"name": "data", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}]
    }});
    let merged = smp(&patch_schema::POD, live_pod(), patch).unwrap();
    assert_eq!(
        merged["spec"]["containers"],
        json!([{"name": "only", "image": "alpine"}])
    );
    assert_eq!(
        merged["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}])
    );
}

#[test]
fn null_body_changes_nothing_and_type_changes_take_the_patch() {
    assert_eq!(
        apply(
            PatchType::StrategicMerge,
            &patch_schema::POD,
            &live_pod(),
            b"null"
        )
        .unwrap(),
        live_pod()
    );
    let merged = smp(
        &patch_schema::POD,
        live_pod(),
        json!({"spec": {"containers": "x"}}),
    )
    .unwrap();
    assert_eq!(merged["spec"]["containers"], "x");
}

fn error(patch: Value) -> PatchError {
    smp(&patch_schema::POD, live_pod(), patch).unwrap_err()
}

#[test]
fn errors_match_upstream_statuses_and_messages() {
    let e = error(json!({"spec": {"containers": [{"image": "nginx"}]}}));
    assert_eq!((e.code(), e.reason()), (500, ""));
    assert_eq!(
        e.to_string(),
        "map: map[image:nginx] does not contain declared merge key: name"
    );

    let e = error(json!({"spec": {"nodeSelector": {"$patch": "frobnicate", "a": "b"}}}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: frobnicate in map: map[$patch:frobnicate a:b]"
    );
    let e = error(json!({"spec": {"nodeSelector": {"$patch": "merge"}}}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: merge in map: map[$patch:merge]"
    );
    let e = error(json!({"spec": {"containers": [{"$patch": "merge", "name": "web"}]}}));
    assert_eq!(
        e.to_string(),
        "merging lists cannot yet be specified in the patch"
    );

    let e = error(json!({"spec": {"volumes": [{"name": "data", "$retainKeys": "name"}]}}));
    assert_eq!(
        e,
        PatchError::BadRequest("invalid patch format of retainKeys".into())
    );
    let e = error(
        json!({"spec": {"volumes": [{"name": "data", "$retainKeys": ["name"], "emptyDir": {}}]}}),
    );
    assert_eq!(e.code(), 400);
    let e = error(json!({"spec": {"$setElementOrderX/containers": []}}));
    assert_eq!(
        e,
        PatchError::BadRequest("invalid patch format of setElementOrder list".into())
    );
    let e = error(json!({"metadata": {"$deleteFromPrimitiveList": ["x"]}}));
    assert_eq!(
        e,
        PatchError::BadRequest("invalid patch format of primitive list".into())
    );

    let cm = json!({"metadata": {"name": "c", "finalizers": []}});
    let e = smp(
        &patch_schema::NONE,
        cm,
        json!({"metadata": {"finalizers": [["x"]]}}),
    )
    .unwrap_err();
    assert_eq!((e.code(), e.reason()), (422, "Invalid"));
    let e = error(json!({"spec": {"containers": ["web"]}}));
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[map[env:[map[name:MODE value:prod] map[name:DEBUG value:1]] image:nginx:1.25 imagePullPolicy:IfNotPresent name:web ports:[map[containerPort:80 protocol:TCP]] terminationMessagePath:/dev/termination-log] map[image:busybox imagePullPolicy:Always name:sidecar]] [web]]"
    );
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let pod = live_pod();
    let body =
        |b: &[u8]| apply(PatchType::StrategicMerge, &patch_schema::POD, &pod, b).unwrap_err();
    assert_eq!(
        body(b"[]"),
        PatchError::BadRequest(
            "json: cannot unmarshal array into Go value of type map[string]interface {}".into()
        )
    );
    assert_eq!(
        body(b"{\"spec\":"),
        PatchError::BadRequest("unexpected end of JSON input".into())
    );
    assert_eq!(body(b"{\"spec\": x}").code(), 400);
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let deep = format!("{}{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    for patch_type in [PatchType::StrategicMerge, PatchType::Merge, PatchType::Json] {
        let e = apply(patch_type, &patch_schema::POD, &live_pod(), deep.as_bytes()).unwrap_err();
        assert_eq!(e.code(), 400);
    }
    // Wrong types at every level of a merge list.
    for patch in [
        json!({"spec": {"containers": [1, 2]}}),
        json!({"spec": {"$setElementOrder/containers": "web"}}),
        json!({"spec": {"$setElementOrder/containers": [1], "containers": [{"name": "web"}]}}),
        json!({"spec": {"containers": [{"name": "web", "$setElementOrder/env": [{"name": 1}], "env": [{"x": 1}]}]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [{"a": 1}]}}),
        json!({"spec": {"containers": [{"$patch": "delete"}]}}),
    ] {
        assert!(smp(&patch_schema::POD, live_pod(), patch).is_err());
    }
}
