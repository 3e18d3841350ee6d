//! [`VolumeManager`] with downwardAPI and projected volumes on the real host (needs root:
//! both live on tmpfs): files and modes at setup, the labels file after the pod's labels
//! change, a renewed token after a refresh, and read-only mounts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::{Container, Pod, ServiceAccountTokenProjection};
use serde_json::json;

use super::{HostPathPolicy, PrefetchedSources, TokenRequestKey, VolumeManager};
use crate::kubelet::downward_api::Allocatable;

/// A temporary node data directory; tears the pod's volumes (tmpfs mounts) down on drop,
/// also when an assertion failed.
struct Node {
    manager: VolumeManager,
    uid: String,
    _data: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "these tests mount tmpfs: run them as root");
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let data = tempfile::tempdir().unwrap();
        let manager = VolumeManager::new(data.path(), HostPathPolicy::allow_all())
            .with_node_allocatable_memory(16 << 20)
            .with_allocatable(Allocatable {
                cpu_milli: 2000,
                memory_bytes: 1 << 30,
                ephemeral_storage_bytes: 8 << 30,
            });
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let uid = format!("volume-test-{}-{n}", std::process::id());
        Node {
            manager,
            uid,
            _data: data,
        }
    }

    fn pod(&self, labels: serde_json::Value, volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": self.uid, "labels": labels},
            "spec": {"serviceAccountName": "robot", "volumes": volumes,
                     "containers": [{"name": "main", "volumeMounts": [
                         {"name": "info", "mountPath": "/etc/podinfo"},
                         {"name": "all", "mountPath": "/var/run/secrets/tokens"}]}]}
        }))
        .unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.manager.teardown(&self.uid) {
            eprintln!("teardown of {} failed: {e}", self.uid);
        }
    }
}

fn volumes() -> serde_json::Value {
    json!([
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "mem", "mode": 0o400, "resourceFieldRef": {"containerName": "main",
                "resource": "limits.memory", "divisor": "1Mi"}}]}},
        {"name": "all", "projected": {"defaultMode": 0o440, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
            {"configMap": {"name": "cfg", "optional": true}}]}}
    ])
}

fn with_token(pod: &Pod, token: &str) -> PrefetchedSources {
    let mut s = PrefetchedSources::default();
    let key = TokenRequestKey::of(
        pod,
        &ServiceAccountTokenProjection {
            path: "token".into(),
            audience: None,
            expiration_seconds: Some(600),
        },
    );
    s.tokens.insert(key, Ok(token.to_string()));
    s
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn downward_api_and_projected_volumes_are_written_and_kept_current() {
    let node = Node::new();
    let pod = node.pod(json!({"app": "web"}), volumes());
    let vols = node
        .manager
        .setup(&pod, &with_token(&pod, "jwt-1"))
        .unwrap();
    let info = vols.host_path("info").unwrap().to_path_buf();
    let all = vols.host_path("all").unwrap().to_path_buf();
    assert!(info.ends_with(format!(
        "{}/volumes/kubernetes.io~downward-api/info",
        node.uid
    )));
    assert!(all.ends_with("volumes/kubernetes.io~projected/all"));
    assert_eq!(
        fs::read_to_string(info.join("labels")).unwrap(),
        "app=\"web\""
    );
    assert_eq!(mode(&info.join("labels")), 0o644);
    assert_eq!(fs::read_to_string(info.join("mem")).unwrap(), "1024");
    assert_eq!(mode(&info.join("mem")), 0o400);
    assert_eq!(fs::read_to_string(all.join("token")).unwrap(), "jwt-1");
    assert_eq!(mode(&all.join("token")), 0o440);

    let container: Container = pod.spec.as_ref().unwrap().containers[0].clone();
    let mounts = vols.mounts_for(&container).unwrap();
    assert_eq!(mounts.len(), 2);
    assert!(mounts.iter().all(|m| m.read_only), "{mounts:?}");

    // New labels and a renewed token land in the files.
    let relabelled = node.pod(json!({"app": "web", "tier": "front"}), volumes());
    let renewed = with_token(&relabelled, "jwt-2");
    node.manager.refresh(&relabelled, &renewed).unwrap();
    assert_eq!(
        fs::read_to_string(info.join("labels")).unwrap(),
        "app=\"web\"\ntier=\"front\""
    );
    assert_eq!(fs::read_to_string(all.join("token")).unwrap(), "jwt-2");
}

#[test]
fn a_token_failure_fails_setup_and_leaves_the_old_token_on_refresh() {
    let node = Node::new();
    let pod = node.pod(json!({"app": "web"}), volumes());
    let mut refused = with_token(&pod, "unused");
    for v in refused.tokens.values_mut() {
        *v = Err(
            "failed to fetch token: the server does not allow this method on the requested resource"
                .into(),
        );
    }
    let err = node.manager.setup(&pod, &refused).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MountVolume.SetUp failed for volume \"all\" : failed to fetch token: \
         the server does not allow this method on the requested resource"
    );
    let vols = node
        .manager
        .setup(&pod, &with_token(&pod, "jwt-1"))
        .unwrap();
    let all = vols.host_path("all").unwrap().to_path_buf();
    let info = vols.host_path("info").unwrap().to_path_buf();
    // The token cannot be had now: its volume keeps the old token, the others still move.
    let relabelled = node.pod(json!({"app": "api"}), volumes());
    let mut refused = with_token(&relabelled, "unused");
    for v in refused.tokens.values_mut() {
        *v = Err("server is down".into());
    }
    assert!(node.manager.refresh(&relabelled, &refused).is_err());
    assert_eq!(fs::read_to_string(all.join("token")).unwrap(), "jwt-1");
    assert_eq!(
        fs::read_to_string(info.join("labels")).unwrap(),
        "app=\"api\""
    );
}
