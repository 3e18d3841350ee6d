//! Tests of the container spec: command, user, mounts, security context, namespaces.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::kubelet::runtime::spec::Resources;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::json;

use super::*;
use crate::kubelet::volume::PrefetchedSources;

fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
    let list = |v: Option<&[&str]>| v.map(|v| v.iter().map(|s| s.to_string()).collect());
    ContainerConfig {
        entrypoint: list(entrypoint),
        cmd: list(cmd),
        ..ContainerConfig::default()
    }
}

fn container(value: serde_json::Value) -> Container {
    serde_json::from_value(value).unwrap()
}

#[test]
fn command_and_args_over_entrypoint_and_cmd() {
    let img = image(Some(&["/entry"]), Some(&["--default"]));
    let vars: HashMap<String, String> = [("PORT".to_string(), "80".to_string())].into();
    let args = |c: serde_json::Value, img: &ContainerConfig| {
        process_args(&container(c), img, &vars).map_err(|e| e.to_string())
    };
    assert_eq!(
        args(json!({"name": "c"}), &img).unwrap(),
        ["/entry", "--default"]
    );
    // `args` alone replace Cmd and keep the entrypoint.
    assert_eq!(
        args(json!({"name": "c", "args": ["-p", "$(PORT)"]}), &img).unwrap(),
        ["/entry", "-p", "80"]
    );
    // `command` replaces the entrypoint and drops Cmd.
    assert_eq!(
        args(json!({"name": "c", "command": ["/bin/sh"]}), &img).unwrap(),
        ["/bin/sh"]
    );
    assert_eq!(
        args(
            json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $$(PORT) $(X)"]}),
            &img
        )
        .unwrap(),
        ["sh", "-c", "echo $(PORT) $(X)"]
    );
    let cleared = image(Some(&[""]), Some(&["run"]));
    assert_eq!(args(json!({"name": "c"}), &cleared).unwrap(), ["run"]);
    let empty = image(None, None);
    assert_eq!(
        args(json!({"name": "c"}), &empty).unwrap_err(),
        "no command specified"
    );
}

struct Fixture {
    pod: Pod,
    rootfs: tempfile::TempDir,
    sources: PrefetchedSources,
    image: ContainerConfig,
}

impl Fixture {
    fn new(pod: serde_json::Value) -> Self {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs.path().join("etc")).unwrap();
        std::fs::write(
            rootfs.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nredis:x:999:1000::/data:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.path().join("etc/group"),
            "root:x:0:\nredis:x:1000:\n",
        )
        .unwrap();
        Fixture {
            pod: serde_json::from_value(pod).unwrap(),
            rootfs,
            sources: PrefetchedSources::default(),
            image: ContainerConfig {
                cmd: Some(vec!["redis-server".into()]),
                env: Some(vec!["PATH=/usr/bin:/bin".into(), "REDIS_VERSION=7".into()]),
                working_dir: Some("/data".into()),
                user: Some("redis".into()),
                ..ContainerConfig::default()
            },
        }
    }

    fn spec(
        &self,
        index: usize,
        volumes: Vec<volume::BindMount>,
    ) -> Result<ContainerSpec, ContainerConfigError> {
        let container = &self.pod.spec.as_ref().unwrap().containers[index];
        let files = PathBuf::from("/var/lib/bramble/pods/u1");
        container_spec(&ContainerInput {
            env: EnvContext {
                pod: &self.pod,
                pod_ips: &["10.42.0.9".into()],
                host_ips: &["192.168.1.2".into()],
                allocatable: Allocatable::default(),
                sources: &self.sources,
                service_env: &std::collections::BTreeMap::new(),
            },
            container,
            image: &self.image,
            volume_mounts: volumes,
            namespaces: PodNamespaces {
                network: Some("/run/bramble/netns/u1".into()),
                ipc: Some("/run/bramble/ipc/u1".into()),
                uts: Some("/run/bramble/uts/u1".into()),
                pid: None,
            },
            rootfs: self.rootfs.path().to_path_buf(),
            cgroups_path: format!("/bramble/podu1/{}", container.name),
            files: PodFiles {
                etc_hosts: files.join("etc-hosts"),
                etc_hostname: files.join("hostname"),
                resolv_conf: files.join("resolv.conf"),
                termination_log: files
                    .join(format!("containers/{}/termination-log", container.name)),
            },
            node_hostname: "pi1".into(),
            seccomp_root: "/nonexistent/seccomp".into(),
            devices: Vec::new(),
        })
    }
}

#[test]
fn seed_pod_containers_share_the_volume_and_use_image_defaults() {
    let f = Fixture::new(
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"shared-volumes","namespace":"default","uid":"u1"},"spec":{"containers":[{"name":"redis","image":"redis","volumeMounts":[{"name":"shared-storage","mountPath":"/data/shared"}]},{"name":"nginx","image":"nginx","volumeMounts":[{"name":"shared-storage","mountPath":"/data/shared"}]}],"volumes":[{"name":"shared-storage","emptyDir":{}}]}}),
    );
    let shared = volume::BindMount {
        source: "/var/lib/bramble/pods/u1/volumes/kubernetes.io~empty-dir/shared-storage".into(),
        destination: "/data/shared".into(),
        read_only: false,
        propagation: MountPropagation::Private,
    };
    let redis = f.spec(0, vec![shared.clone()]).unwrap();
    assert_eq!(redis.args, ["redis-server"]);
    assert_eq!(
        redis.env,
        [
            "PATH=/usr/bin:/bin",
            "HOSTNAME=shared-volumes",
            "REDIS_VERSION=7"
        ]
    );
    assert_eq!(
        (redis.uid, redis.gid, redis.cwd.as_str()),
        (999, 1000, "/data")
    );
    assert_eq!(redis.hostname.as_deref(), Some("shared-volumes"));
    assert_eq!(redis.cgroups_path, "/bramble/podu1/redis");
    let dests: Vec<&str> = redis
        .mounts
        .iter()
        .map(|m| m.destination.as_str())
        .collect();
    assert_eq!(
        dests,
        [
            "/data/shared",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/dev/termination-log"
        ]
    );
    assert_eq!(redis.mounts[0].source, shared.source);
    assert_eq!(
        redis.mounts[4].source,
        PathBuf::from("/var/lib/bramble/pods/u1/containers/redis/termination-log")
    );
    let nginx = f.spec(1, vec![shared]).unwrap();
    assert_eq!(nginx.mounts[0], redis.mounts[0]);
    assert_eq!(nginx.namespaces, redis.namespaces);
    assert_eq!(
        nginx.namespaces.network,
        Some("/run/bramble/netns/u1".into())
    );
    // A pod with nothing set has no limits and runs without no_new_privs.
    assert_eq!(nginx.resources, Resources::default());
    assert!(!nginx.no_new_privileges && !nginx.privileged && !nginx.readonly_rootfs);
}

#[test]
fn security_context_and_resources() {
    let f = Fixture::new(
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {
        "hostname": "box", "hostIPC": true,
        "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000},
        "containers": [{"name": "c", "workingDir": "/work", "command": ["/app"],
            "terminationMessagePath": "/tmp/msg",
            "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1500m", "memory": "256Mi"}},
            "securityContext": {"runAsUser": 0, "readOnlyRootFilesystem": true, "privileged": false,
                "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}]}}),
    );
    let spec = f.spec(0, vec![]).unwrap();
    // The container's runAsUser wins; runAsGroup comes from the pod.
    assert_eq!((spec.uid, spec.gid), (0, 3000));
    assert_eq!(spec.additional_gids, [2000, 3000, 4000]);
    assert_eq!(spec.cwd, "/work");
    assert_eq!(spec.hostname.as_deref(), Some("box"));
    assert_eq!(spec.namespaces.ipc, Some(HOST_NAMESPACE.into()));
    assert_eq!(
        spec.resources,
        Resources {
            cpu_request_milli: Some(250),
            cpu_limit_milli: Some(1500),
            memory_limit_bytes: Some(256 << 20)
        }
    );
    assert!(spec.readonly_rootfs && spec.no_new_privileges && !spec.privileged);
    assert_eq!(
        (spec.capabilities_add, spec.capabilities_drop),
        (vec!["NET_ADMIN".to_string()], vec!["ALL".to_string()])
    );
    let hostname = spec
        .mounts
        .iter()
        .find(|m| m.destination == "/etc/hostname")
        .unwrap();
    assert!(hostname.readonly);
    let hosts = spec
        .mounts
        .iter()
        .find(|m| m.destination == "/etc/hosts")
        .unwrap();
    assert!(!hosts.readonly);
    assert_eq!(spec.mounts.last().unwrap().destination, "/tmp/msg");
}

#[test]
fn host_network_and_refusals() {
    let f = Fixture::new(
        json!({"metadata": {"name": "p"}, "spec": {"hostNetwork": true,
        "securityContext": {"runAsGroup": 5}, "containers": [{"name": "c"}]}}),
    );
    let err = f.spec(0, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "user group \"5\" is specified without user"
    );
    assert_eq!(err.reason(), CREATE_CONTAINER_ERROR);

    let f = Fixture::new(
        json!({"metadata": {"name": "p"}, "spec": {"hostNetwork": true,
        "containers": [{"name": "c", "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]}]}}),
    );
    let err = f.spec(0, vec![]).unwrap_err();
    assert_eq!(err.to_string(), "configmap \"x\" not found");
    assert_eq!(err.reason(), CREATE_CONTAINER_CONFIG_ERROR);

    let f = Fixture::new(
        json!({"metadata": {"name": "p"}, "spec": {"hostNetwork": true, "containers": [{"name": "c"}]}}),
    );
    let spec = f.spec(0, vec![]).unwrap();
    assert_eq!(spec.namespaces.network, Some(HOST_NAMESPACE.into()));
    assert_eq!(spec.namespaces.uts, Some(HOST_NAMESPACE.into()));
    assert_eq!(spec.hostname, None);
    assert!(spec.env.contains(&"HOSTNAME=pi1".to_string()));

    let f = Fixture::new(
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"shareProcessNamespace": true, "containers": [{"name": "c"}]}}),
    );
    assert_eq!(
        f.spec(0, vec![]).unwrap_err().to_string(),
        "pod ns/p: shareProcessNamespace is not supported on this node; remove it from the pod spec"
    );
}
