//! A user applies a node and the two-container pod with stock kubectl, watches it get
//! scheduled, edits and re-applies the file, and deletes it.

use crate::support;

use support::{eventually, node_yaml, Cluster, SHARED_VOLUMES};

#[test]
fn version_and_discovery_answer_kubectl() {
    let c = Cluster::start();
    let version = c.kubectl_ok(&["get", "--raw", "/version"]);
    let v: serde_json::Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "32");
    let resources = c.kubectl_ok(&["api-resources", "--no-headers"]);
    for kind in [
        "Pod",
        "Node",
        "Namespace",
        "Event",
        "ConfigMap",
        "Secret",
        "Service",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "StorageClass",
        "Lease",
    ] {
        assert!(
            resources.split_whitespace().any(|w| w == kind),
            "{kind} missing from:\n{resources}"
        );
    }
}

#[test]
fn seed_pod_is_accepted_scheduled_described_reapplied_and_deleted() {
    let c = Cluster::start();
    assert!(c
        .apply(&node_yaml("pi-1", "4", "4Gi"))
        .contains("node/pi-1 created"));
    assert!(c
        .apply(SHARED_VOLUMES)
        .contains("pod/shared-volumes created"));

    let wide = eventually("the pod to be scheduled", || {
        let out = c.kubectl_ok(&["get", "pods", "-o", "wide"]);
        out.lines()
            .any(|l| l.starts_with("shared-volumes") && l.contains("pi-1"))
            .then_some(out)
    });
    let header = wide.lines().next().unwrap();
    for col in [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ] {
        assert!(header.contains(col), "missing column {col} in {header}");
    }
    let row = wide
        .lines()
        .find(|l| l.starts_with("shared-volumes"))
        .unwrap();
    assert!(row.contains("0/2") && row.contains("Pending"), "row: {row}");

    let describe = eventually("the Scheduled event", || {
        let d = c.kubectl_ok(&["describe", "pod", "shared-volumes"]);
        d.contains("Successfully assigned default/shared-volumes to pi-1")
            .then_some(d)
    });
    assert!(
        describe.contains("Node:") && describe.contains("pi-1"),
        "{describe}"
    );
    assert!(
        describe.contains("/data/shared from shared-storage (rw)"),
        "{describe}"
    );

    // Re-applying the same file changes nothing (kubectl says "configured", as it does
    // upstream, because the server added the service account's volume to the pod's lists);
    // an edited file patches the pod.
    let version = || c.pod_jsonpath("shared-volumes", "{.metadata.resourceVersion}");
    let before = version();
    assert!(c.apply(SHARED_VOLUMES).contains("pod/shared-volumes "));
    assert_eq!(
        version(),
        before,
        "re-applying the same file changed the pod"
    );
    let edited = SHARED_VOLUMES.replace("image: nginx", "image: nginx:1.27");
    assert!(c.apply(&edited).contains("pod/shared-volumes configured"));
    let images = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.spec.containers[*].image}",
    ]);
    assert_eq!(images, "redis nginx:1.27");
    let mounts = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.spec.containers[1].volumeMounts[0].mountPath}",
    ]);
    assert_eq!(
        mounts, "/data/shared",
        "strategic merge kept the untouched fields"
    );

    let out = c.kubectl_as(&c.kubeconfig(), &["delete", "-f", "-"], Some(&edited));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gone = c.kubectl(&["get", "pod", "shared-volumes"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("pods \"shared-volumes\" not found"));
}

#[test]
fn get_watch_streams_changes() {
    let c = Cluster::start();
    c.apply(&node_yaml("pi-1", "4", "4Gi"));
    c.apply(SHARED_VOLUMES);
    let mut watch = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["get", "pods", "-w", "--output-watch-events"])
        .env("HOME", c.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    // kubectl lists, then watches from the list's resourceVersion: every later change arrives
    eventually("the initial list", || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("ADDED"))
            .then_some(())
    });
    c.kubectl_ok(&["label", "pod", "shared-volumes", "tier=cache"]);
    c.kubectl_ok(&["delete", "pod", "shared-volumes"]);
    let seen = eventually("ADDED, MODIFIED and DELETED events", || {
        let l = lines.lock().unwrap().clone();
        let has = |t: &str| {
            l.iter()
                .any(|x| x.starts_with(t) && x.contains("shared-volumes"))
        };
        (has("MODIFIED") && has("DELETED")).then_some(l)
    });
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen.iter()
            .any(|l| l.contains("EVENT") && l.contains("NAME")),
        "header printed: {seen:?}"
    );
}
