use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::kubelet::devices::restore::restore_listed;

fn declared(pairs: &[(&str, &str)]) -> DeviceAllocator {
    DeviceAllocator::new(
        pairs
            .iter()
            .map(|(path, name)| DeviceDeclaration::named(*path, name).unwrap())
            .collect(),
    )
}

/// A pod whose containers (name, limits) come in order, init containers first.
fn pod(inits: serde_json::Value, containers: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {"initContainers": inits, "containers": containers}
    }))
    .unwrap()
}

fn asking(name: &str, limits: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "image": "box", "resources": {"limits": limits}})
}

fn paths(v: &[&str]) -> Vec<PathBuf> {
    v.iter().map(PathBuf::from).collect()
}

#[test]
fn a_container_gets_the_device_it_asks_for_and_others_get_none() {
    let a = declared(&[("/dev/null", "i2c-1"), ("/dev/zero", "gpiochip0")]);
    let p = pod(
        json!([]),
        json!([
            asking("uses", json!({"bramble.io/i2c-1": "1"})),
            asking("plain", json!({"cpu": "1"}))
        ]),
    );
    a.admit("u1", &p).unwrap();
    assert_eq!(a.container_devices("u1", "uses"), paths(&["/dev/null"]));
    assert!(a.container_devices("u1", "plain").is_empty());
    assert!(a.container_devices("u2", "uses").is_empty());
}

#[test]
fn a_held_device_is_refused_to_a_second_pod_until_released() {
    let a = declared(&[("/dev/null", "i2c-1")]);
    let p = pod(
        json!([]),
        json!([asking("c", json!({"bramble.io/i2c-1": "1"}))]),
    );
    a.admit("first", &p).unwrap();
    let refused = a.admit("second", &p).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Allocate failed due to requested number of devices unavailable for bramble.io/i2c-1. \
         Requested: 1, Available: 0, which is unexpected"
    );
    assert!(!a.holds("second"));
    // Admitting the holder again changes nothing.
    a.admit("first", &p).unwrap();
    a.release("first");
    a.admit("second", &p).unwrap();
    assert_eq!(a.container_devices("second", "c"), paths(&["/dev/null"]));
}

#[test]
fn a_refused_pod_holds_nothing_it_was_partly_given() {
    let a = declared(&[("/dev/null", "a"), ("/dev/zero", "b")]);
    let b_only = pod(
        json!([]),
        json!([asking("c", json!({"bramble.io/b": "1"}))]),
    );
    a.admit("holder", &b_only).unwrap();
    let both = pod(
        json!([]),
        json!([asking(
            "c",
            json!({"bramble.io/a": "1", "bramble.io/b": "1"})
        )]),
    );
    assert!(a.admit("both", &both).is_err());
    let a_only = pod(
        json!([]),
        json!([asking("c", json!({"bramble.io/a": "1"}))]),
    );
    a.admit("third", &a_only).unwrap();
}

#[test]
fn two_containers_cannot_share_one_device() {
    let a = declared(&[("/dev/null", "i2c-1")]);
    let p = pod(
        json!([]),
        json!([
            asking("x", json!({"bramble.io/i2c-1": "1"})),
            asking("y", json!({"bramble.io/i2c-1": "1"}))
        ]),
    );
    assert!(matches!(
        a.admit("u", &p),
        Err(AllocationError::Unavailable {
            requested: 1,
            available: 0,
            ..
        })
    ));
}

#[test]
fn an_init_containers_device_is_handed_on_but_a_sidecars_is_not() {
    let a = declared(&[("/dev/null", "i2c-1")]);
    let p = pod(
        json!([asking("setup", json!({"bramble.io/i2c-1": "1"}))]),
        json!([asking("app", json!({"bramble.io/i2c-1": "1"}))]),
    );
    a.admit("u", &p).unwrap();
    assert_eq!(a.container_devices("u", "setup"), paths(&["/dev/null"]));
    assert_eq!(a.container_devices("u", "app"), paths(&["/dev/null"]));

    let b = declared(&[("/dev/null", "i2c-1")]);
    let mut sidecar = asking("side", json!({"bramble.io/i2c-1": "1"}));
    sidecar["restartPolicy"] = json!("Always");
    let p = pod(
        json!([sidecar]),
        json!([asking("app", json!({"bramble.io/i2c-1": "1"}))]),
    );
    assert!(b.admit("u", &p).is_err());
}

#[test]
fn several_devices_under_one_name_are_counted_and_given_apart() {
    let a = declared(&[("/dev/null", "serial"), ("/dev/zero", "serial")]);
    assert_eq!(a.capacity().get("bramble.io/serial"), Some(&2));
    let one = pod(
        json!([]),
        json!([asking("c", json!({"bramble.io/serial": "1"}))]),
    );
    a.admit("a", &one).unwrap();
    a.admit("b", &one).unwrap();
    let mut given = a.container_devices("a", "c");
    given.extend(a.container_devices("b", "c"));
    given.sort();
    assert_eq!(given, paths(&["/dev/null", "/dev/zero"]));
    assert!(a.admit("c", &one).is_err());
}

#[test]
fn absent_devices_count_zero_and_are_refused() {
    let pid = std::process::id();
    let gone = format!("/dev/bramble-absent-{pid}");
    let a = declared(&[(gone.as_str(), "camera"), ("/dev/null", "i2c-1")]);
    let capacity = a.capacity();
    assert_eq!(capacity.get("bramble.io/camera"), Some(&0));
    assert_eq!(capacity.get("bramble.io/i2c-1"), Some(&1));
    let p = pod(
        json!([]),
        json!([asking("c", json!({"bramble.io/camera": "1"}))]),
    );
    assert_eq!(
        a.admit("u", &p).unwrap_err().to_string(),
        "Allocate failed due to no healthy devices present; cannot allocate unhealthy devices \
         bramble.io/camera, which is unexpected"
    );
}

#[test]
fn resources_the_node_does_not_declare_are_left_to_the_scheduler() {
    let a = declared(&[("/dev/null", "i2c-1")]);
    let p = pod(
        json!([]),
        json!([asking("c", json!({"example.com/gpu": "2"}))]),
    );
    a.admit("u", &p).unwrap();
    assert!(!a.holds("u"));
}

#[test]
fn a_path_declared_twice_is_one_device() {
    let a = declared(&[("/dev/null", "a"), ("/dev/null", "b")]);
    assert_eq!(a.declared().len(), 1);
    assert_eq!(a.capacity().get("bramble.io/a"), Some(&1));
    assert!(!a.capacity().contains_key("bramble.io/b"));
}

#[test]
fn a_restart_gives_running_pods_their_devices_again_oldest_first() {
    let a = declared(&[("/dev/null", "i2c-1")]);
    let pod_value = |uid: &str, created: &str, phase: &str| {
        json!({
            "metadata": {"name": uid, "uid": uid, "creationTimestamp": created},
            "spec": {"containers": [asking("c", json!({"bramble.io/i2c-1": "1"}))]},
            "status": {"phase": phase}
        })
    };
    let pods = [
        pod_value("newer", "2026-01-02T00:00:00Z", "Running"),
        pod_value("done", "2026-01-01T00:00:00Z", "Succeeded"),
        pod_value("older", "2026-01-01T12:00:00Z", "Running"),
        pod_value("not-started", "2025-01-01T00:00:00Z", "Pending"),
    ];
    let with_containers: BTreeSet<&str> = ["newer", "done", "older"].into_iter().collect();
    restore_listed(&a, &with_containers, &pods);
    assert!(a.holds("older"));
    assert!(!a.holds("newer"));
    assert!(!a.holds("done"));
    assert!(!a.holds("not-started"));
}
