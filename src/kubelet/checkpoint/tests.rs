use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{file, Checkpoint};

fn pod(uid: &str, image: &str, rv: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("p-{uid}"), "namespace": "default", "uid": uid,
                     "resourceVersion": rv, "labels": {"app": "a"},
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"nodeName": "n1", "containers": [{
            "name": "c", "image": image,
            "env": [{"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}],
            "envFrom": [{"configMapRef": {"name": "cm1"}}]}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5"}
    })
}

fn secret(name: &str, value: &str, rv: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
           "data": {"k": value}})
}

#[test]
fn only_content_changes_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::open(dir.path());
    assert!(!cp.flush().unwrap(), "nothing held, nothing to write");
    cp.put_pod(&pod("u1", "busybox", "1"));
    cp.put_secret("default", "s1", &secret("s1", "YQ==", "5"));
    assert!(cp.flush().unwrap());
    assert_eq!(cp.writes(), 1);

    // status, resourceVersion and managedFields churn: no write
    let mut churned = pod("u1", "busybox", "2");
    churned["status"]["phase"] = json!("Succeeded");
    churned["metadata"]["managedFields"] = json!([{"manager": "kubelet"}]);
    cp.put_pod(&churned);
    cp.put_secret("default", "s1", &secret("s1", "YQ==", "6"));
    assert!(!cp.flush().unwrap());
    assert_eq!(cp.writes(), 1);

    // a spec change, a changed Secret, a removed pod: one write each
    cp.put_pod(&pod("u1", "busybox:2", "3"));
    assert!(cp.flush().unwrap());
    cp.put_secret("default", "s1", &secret("s1", "Yg==", "7"));
    assert!(cp.flush().unwrap());
    cp.remove_pod("u1");
    assert!(cp.flush().unwrap());
    assert_eq!(cp.writes(), 4);

    // a Secret no pod uses is not worth a write
    cp.put_secret("default", "unused", &secret("unused", "Yw==", "1"));
    assert!(!cp.flush().unwrap());
    assert_eq!(cp.writes(), 4);
}

#[test]
fn a_round_trip_keeps_spec_and_sources_and_drops_status() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::open(dir.path());
    cp.put_pod(&pod("u1", "busybox", "1"));
    cp.put_secret("default", "s1", &secret("s1", "YQ==", "5"));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cm1", "namespace": "default"}, "data": {"A": "1"}});
    cp.put_config_map("default", "cm1", &cm);
    cp.set_network("10.42.0.0/16".into(), "10.42.1.0/24".into());
    cp.flush().unwrap();

    let again = Checkpoint::open(dir.path());
    let pods = again.pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["spec"]["containers"][0]["image"], "busybox");
    assert_eq!(pods[0]["metadata"]["labels"]["app"], "a");
    assert!(pods[0].get("status").is_none());
    assert!(pods[0]["metadata"].get("resourceVersion").is_none());
    assert_eq!(again.secret("default", "s1").unwrap()["data"]["k"], "YQ==");
    assert_eq!(
        again.config_map("default", "cm1").unwrap()["data"]["A"],
        "1"
    );
    assert_eq!(
        again.network(),
        (Some("10.42.0.0/16".into()), Some("10.42.1.0/24".into()))
    );
    // reading it back is not a change
    assert!(!again.flush().unwrap());

    let mode = std::fs::metadata(file::path_in(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the file holds Secrets");
}

#[test]
fn a_corrupt_or_truncated_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::open(dir.path());
    cp.put_pod(&pod("u1", "busybox", "1"));
    cp.flush().unwrap();
    let path = file::path_in(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(Checkpoint::open(dir.path()).pods().is_empty());
    std::fs::write(&path, b"\x00\xffnot json").unwrap();
    assert!(Checkpoint::open(dir.path()).pods().is_empty());
    // and the next write replaces it
    let cp = Checkpoint::open(dir.path());
    cp.put_pod(&pod("u2", "busybox", "1"));
    assert!(cp.flush().unwrap());
    assert_eq!(Checkpoint::open(dir.path()).pods().len(), 1);
}

#[tokio::test]
async fn writes_are_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(400);
    let cp = Checkpoint::open_with_interval(dir.path(), interval);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&cp).run(stop.clone()));
    let started = Instant::now();
    for i in 0..20 {
        cp.put_pod(&pod(&format!("u{i}"), "busybox", "1"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Checkpoint::open(dir.path()).pods().len() < 20 {
        assert!(
            Instant::now() < deadline,
            "the last change was never written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let most = started.elapsed().as_millis() / interval.as_millis() + 1;
    assert!(
        u128::from(cp.writes()) <= most,
        "{} writes for 20 changes, at most {most} expected",
        cp.writes()
    );
    cp.put_pod(&pod("late", "busybox", "1"));
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        Checkpoint::open(dir.path()).pods().len(),
        21,
        "shutdown writes what is pending"
    );
}

#[test]
fn a_few_pods_fit_in_a_few_kilobytes() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::open(dir.path());
    for i in 0..5 {
        cp.put_pod(&pod(
            &format!("uid-{i:032}"),
            "registry.local/app:1.2.3",
            "1",
        ));
    }
    cp.put_secret("default", "s1", &secret("s1", "c2VjcmV0LXZhbHVl", "1"));
    cp.flush().unwrap();
    let size = std::fs::metadata(file::path_in(dir.path())).unwrap().len();
    assert!(size < 4096, "{size} bytes");
}
