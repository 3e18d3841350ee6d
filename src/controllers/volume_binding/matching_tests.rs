//! Upstream's binder cases (pv_controller / index_test): smallest fit, class, selector,
//! access modes, volume mode, pre-binding, delayed binding and node affinity.

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use serde_json::{json, Value};

use super::*;

fn pv(name: &str, size: &str, modes: &[&str], class: &str, extra: Value) -> PersistentVolume {
    let mut v = json!({
        "metadata": {"name": name, "labels": {}},
        "spec": {"capacity": {"storage": size}, "accessModes": modes,
                 "storageClassName": class, "volumeMode": "Filesystem",
                 "hostPath": {"path": format!("/mnt/{name}")}},
        "status": {"phase": "Available"},
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn pvc(size: &str, modes: &[&str], class: &str, extra: Value) -> PersistentVolumeClaim {
    let mut v = json!({
        "metadata": {"name": "claim", "namespace": "default", "uid": "uid-1"},
        "spec": {"resources": {"requests": {"storage": size}}, "accessModes": modes,
                 "storageClassName": class, "volumeMode": "Filesystem"},
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

fn name(v: Option<&PersistentVolume>) -> Option<&str> {
    v.and_then(|v| v.metadata.name.as_deref())
}

const RWO: &[&str] = &["ReadWriteOnce"];

#[test]
fn smallest_volume_that_fits_wins() {
    let vols = vec![
        pv("big", "10Gi", RWO, "", json!({})),
        pv("small", "1Gi", RWO, "", json!({})),
        pv("fits", "5Gi", RWO, "", json!({})),
        pv("exact", "2Gi", RWO, "", json!({})),
    ];
    let c = pvc("2Gi", RWO, "", json!({}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("exact")
    );
    let c = pvc("3Gi", RWO, "", json!({}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("fits")
    );
    let c = pvc("20Gi", RWO, "", json!({}));
    assert_eq!(name(find_matching_volume(&c, &vols, None, false)), None);
}

#[test]
fn class_must_be_equal_including_empty() {
    let vols = vec![pv("gold", "1Gi", RWO, "gold", json!({}))];
    assert!(find_matching_volume(&pvc("1Gi", RWO, "", json!({})), &vols, None, false).is_none());
    let c = pvc("1Gi", RWO, "gold", json!({}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("gold")
    );
}

#[test]
fn access_modes_must_be_offered_and_fewest_modes_preferred() {
    let vols = vec![
        pv(
            "many",
            "1Gi",
            &["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
            "",
            json!({}),
        ),
        pv("rox", "1Gi", &["ReadOnlyMany"], "", json!({})),
        pv(
            "two",
            "5Gi",
            &["ReadWriteOnce", "ReadOnlyMany"],
            "",
            json!({}),
        ),
    ];
    // fewer modes first, even though bigger
    let c = pvc("1Gi", RWO, "", json!({}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("two")
    );
    let c = pvc("1Gi", &["ReadWriteMany"], "", json!({}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("many")
    );
    let c = pvc("1Gi", &["ReadWriteOncePod"], "", json!({}));
    assert!(find_matching_volume(&c, &vols, None, false).is_none());
}

#[test]
fn selector_and_volume_mode_filter() {
    let vols = vec![
        pv("plain", "1Gi", RWO, "", json!({})),
        pv(
            "ssd",
            "2Gi",
            RWO,
            "",
            json!({"metadata": {"labels": {"disk": "ssd"}}}),
        ),
        pv(
            "block",
            "1Gi",
            RWO,
            "",
            json!({"spec": {"volumeMode": "Block"}}),
        ),
    ];
    let c = pvc(
        "1Gi",
        RWO,
        "",
        json!({"spec": {"selector": {"matchLabels": {"disk": "ssd"}}}}),
    );
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("ssd")
    );
    let c = pvc("1Gi", RWO, "", json!({"spec": {"volumeMode": "Block"}}));
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("block")
    );
}

#[test]
fn only_available_unclaimed_volumes_unless_bound_to_this_claim() {
    let other = json!({"spec": {"claimRef": {"namespace": "default", "name": "other"}}});
    let mine = json!({"spec": {"claimRef": {"namespace": "default", "name": "claim"}},
                      "status": {"phase": "Bound"}});
    let vols = vec![
        pv(
            "released",
            "1Gi",
            RWO,
            "",
            json!({"status": {"phase": "Released"}}),
        ),
        pv("taken", "1Gi", RWO, "", other),
    ];
    let c = pvc("1Gi", RWO, "", json!({}));
    assert!(find_matching_volume(&c, &vols, None, false).is_none());
    // pre-bound to the claim: chosen even when bigger, other class, or binding is delayed
    let vols = vec![
        pv("any", "1Gi", RWO, "", json!({})),
        pv("mine", "9Gi", RWO, "other", mine),
    ];
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, false)),
        Some("mine")
    );
    assert_eq!(
        name(find_matching_volume(&c, &vols, None, true)),
        Some("mine")
    );
    // a claimRef with another uid is not ours
    let stale =
        json!({"spec": {"claimRef": {"namespace": "default", "name": "claim", "uid": "old"}}});
    let vols = vec![pv("stale", "1Gi", RWO, "", stale)];
    assert!(find_matching_volume(&c, &vols, None, false).is_none());
}

#[test]
fn delayed_binding_waits_for_a_node_and_checks_affinity() {
    let affinity = |host: &str| {
        json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}}}})
    };
    let node = |host: &str| -> Node {
        serde_json::from_value(json!({"metadata": {"name": host,
            "labels": {"kubernetes.io/hostname": host}}}))
        .unwrap()
    };
    let vols = vec![
        pv("on-a", "1Gi", RWO, "local", affinity("a")),
        pv("on-b", "2Gi", RWO, "local", affinity("b")),
    ];
    let c = pvc("1Gi", RWO, "local", json!({}));
    assert!(find_matching_volume(&c, &vols, None, true).is_none());
    let b = node("b");
    assert_eq!(
        name(find_matching_volume(&c, &vols, Some(&b), true)),
        Some("on-b")
    );
    let z = node("z");
    assert!(find_matching_volume(&c, &vols, Some(&z), true).is_none());
    assert!(node_affinity_fits(&vols[0], &node("a")));
    assert!(!node_affinity_fits(&vols[0], &b));
}

#[test]
fn deleting_volumes_are_skipped() {
    let vols = vec![pv(
        "going",
        "1Gi",
        RWO,
        "",
        json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
    )];
    assert!(find_matching_volume(&pvc("1Gi", RWO, "", json!({})), &vols, None, false).is_none());
}
