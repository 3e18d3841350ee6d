use serde_json::{json, Value};

use crate::resources::field_error::messages;
use crate::resources::pod::PodStrategy;
use crate::resources::Strategy;

/// A created, defaulted pod with one container `app` and one init container `setup`.
fn created() -> Value {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}],
                 "initContainers": [{"name": "setup", "image": "busybox"}],
                 "volumes": [{"name": "data", "emptyDir": {}}]}});
    let mut pod = PodStrategy.decode(pod).unwrap().object;
    PodStrategy.default(&mut pod);
    PodStrategy.prepare_for_create(&mut pod);
    pod
}

fn debugger(name: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["sh"], "stdin": true, "tty": true,
           "targetContainerName": "app", "resources": {}})
}

/// The request `body` through the subresource's preparation, and what validation says.
fn through_subresource(body: &Value, old: &Value) -> (Value, Vec<String>) {
    let mut new = PodStrategy.decode(body.clone()).unwrap().object;
    PodStrategy.prepare_for_ephemeral_containers_update(&mut new, old);
    let errs = messages(&PodStrategy.validate_ephemeral_containers_update(&new, old));
    (new, errs)
}

fn with_ephemeral(pod: &Value, list: Value) -> Value {
    let mut p = pod.clone();
    p["spec"]["ephemeralContainers"] = list;
    p
}

#[test]
fn adding_one_is_accepted_and_defaulted() {
    let old = created();
    let (new, errs) = through_subresource(&with_ephemeral(&old, json!([debugger("dbg")])), &old);
    assert_eq!(errs, Vec::<String>::new());
    let c = &new["spec"]["ephemeralContainers"][0];
    assert_eq!(c["imagePullPolicy"], "Always"); // no tag means latest
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["targetContainerName"], "app");
}

#[test]
fn other_changes_through_the_subresource_are_dropped() {
    let old = created();
    let mut body = with_ephemeral(&old, json!([debugger("dbg")]));
    body["spec"]["containers"][0]["image"] = json!("nginx:2");
    body["metadata"]["labels"] = json!({"a": "b"});
    body["status"] = json!({"phase": "Failed"});
    let (new, errs) = through_subresource(&body, &old);
    assert_eq!(errs, Vec::<String>::new());
    assert_eq!(new["spec"]["containers"], old["spec"]["containers"]);
    assert_eq!(new["metadata"], old["metadata"]);
    assert_eq!(new["status"], old["status"]);
}

#[test]
fn existing_ones_may_not_be_removed_or_changed() {
    let base = created();
    let old = through_subresource(&with_ephemeral(&base, json!([debugger("dbg")])), &base).0;

    let (_, errs) = through_subresource(&with_ephemeral(&old, json!([])), &old);
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n"]
    );

    let mut changed = old["spec"]["ephemeralContainers"].clone();
    changed[0]["image"] = json!("alpine");
    let (_, errs) = through_subresource(&with_ephemeral(&old, changed), &old);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be changed\n  core.EphemeralContainer{\n"),
        "{errs:#?}"
    );
    assert!(errs[0].contains("- \timage: \"busybox\""), "{errs:#?}");
    assert!(errs[0].contains("+ \timage: \"alpine\""), "{errs:#?}");

    // Another one added beside the first, listed first: order does not matter.
    let mut more = old["spec"]["ephemeralContainers"].clone();
    more.as_array_mut().unwrap().insert(0, debugger("dbg2"));
    let (new, errs) = through_subresource(&with_ephemeral(&old, more), &old);
    assert_eq!(errs, Vec::<String>::new());
    assert_eq!(
        new["spec"]["ephemeralContainers"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn workload_fields_names_and_targets_are_checked() {
    let old = created();
    let mut bad = debugger("app");
    bad["targetContainerName"] = json!("nope");
    bad["ports"] = json!([{"containerPort": 80}]);
    bad["resources"] = json!({"limits": {"cpu": "1"}});
    bad["readinessProbe"] = json!({"exec": {"command": ["true"]}});
    bad["lifecycle"] = json!({"preStop": {"exec": {"command": ["true"]}}});
    bad["volumeMounts"] = json!([{"name": "data", "mountPath": "/d", "subPath": "x"}]);
    let second = debugger("setup");
    let (_, errs) = through_subresource(&with_ephemeral(&old, json!([bad, second])), &old);
    for want in [
        "spec.ephemeralContainers[0].name: Duplicate value: \"app\"",
        "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
        "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[0].lifecycle: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[1].name: Duplicate value: \"setup\"",
    ] {
        assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
    }
}

#[test]
fn unique_names_among_ephemeral_containers() {
    let old = created();
    let list = json!([debugger("dbg"), debugger("dbg")]);
    let (_, errs) = through_subresource(&with_ephemeral(&old, list), &old);
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers[1].name: Duplicate value: \"dbg\""]
    );
}

#[test]
fn not_on_create_and_not_through_the_main_resource() {
    let mut pod = created();
    pod["spec"]["ephemeralContainers"] = json!([debugger("dbg")]);
    PodStrategy.default(&mut pod);
    let errs = messages(&PodStrategy.validate(&pod));
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    );

    let old = created();
    let mut new = with_ephemeral(&old, json!([debugger("dbg")]));
    PodStrategy.default(&mut new);
    PodStrategy.prepare_for_update(&mut new, &old);
    let errs = PodStrategy.validate_update(&new, &old);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0]
        .detail
        .starts_with("Forbidden: pod updates may not change fields other than"));
    assert!(errs[0].detail.contains("ephemeralContainers"));
}

#[test]
fn mirror_pods_take_none() {
    let mut old = created();
    old["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
    let (_, errs) = through_subresource(&with_ephemeral(&old, json!([debugger("dbg")])), &old);
    assert_eq!(
        errs,
        vec![": Forbidden: static pods do not support ephemeral containers"]
    );
}
