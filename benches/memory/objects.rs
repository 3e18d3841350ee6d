//! The objects the memory bench stores, shaped like what a real cluster holds: Nodes as a
//! kubelet registers them (labels, capacity, conditions, addresses, system info, a short list
//! of cached images), and pods as a Deployment's ReplicaSet makes them (no owner reference,
//! which would name a ReplicaSet that does not exist; `pod-template-hash`, an app container
//! and a log-shipping sidecar with resources, env, probes and volume mounts, the projected
//! service-account volume), later given a Running status as their kubelet would report it.

use serde_json::{json, Value};

/// The ReplicaSet the pods belong to, as `<deployment>-<pod-template-hash>`.
const REPLICA_SET: &str = "web-7d4b9c8f6d";

/// The name of node `i`.
pub fn node_name(i: usize) -> String {
    format!("pi-{i:03}")
}

/// The name of pod `i`: the ReplicaSet's name and a five-character suffix.
pub fn pod_name(i: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = i;
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHABET[n % ALPHABET.len()] as char;
            n /= ALPHABET.len();
            c
        })
        .collect();
    format!("{REPLICA_SET}-{suffix}")
}

/// A Node as a kubelet on a Raspberry Pi registers it.
pub fn node(i: usize, now: &str) -> Value {
    let name = node_name(i);
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    let images: Vec<Value> = [
        ("docker.io/library/nginx:1.27-alpine", 21_000_000),
        ("docker.io/fluent/fluent-bit:3.1", 38_000_000),
        ("docker.io/library/redis:7-alpine", 17_000_000),
        ("docker.io/library/busybox:1.36", 2_100_000),
        ("registry.k8s.io/pause:3.10", 320_000),
    ]
    .iter()
    .enumerate()
    .map(|(k, (image, size))| {
        json!({
            "names": [format!("{image}@sha256:{:064x}", ((i * 7 + k) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)), image],
            "sizeBytes": size,
        })
    })
    .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "arm64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "arm64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "raspberrypi-4b",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": {
            "capacity": {
                "cpu": "4", "ephemeral-storage": "30450876Ki", "hugepages-1Gi": "0",
                "hugepages-2Mi": "0", "hugepages-32Mi": "0", "hugepages-64Ki": "0",
                "memory": "3882412Ki", "pods": "110",
            },
            "allocatable": {
                "cpu": "4", "ephemeral-storage": "29622163761", "hugepages-1Gi": "0",
                "hugepages-2Mi": "0", "hugepages-32Mi": "0", "hugepages-64Ki": "0",
                "memory": "3780012Ki", "pods": "110",
            },
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": format!("192.168.1.{}", 10 + i % 240)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": format!("{:032x}", (i as u128).wrapping_mul(0x1234_5678_9abc_def1)),
                "systemUUID": format!("{:032x}", (i as u128).wrapping_mul(0x0fed_cba9_8765_4321)),
                "bootID": format!("6c1f0e2a-91d4-4b8e-a5f3-{i:012}"),
                "kernelVersion": "6.6.51+rpt-rpi-v8",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "bramble://0.1.0",
                "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "v1.32.0",
                "operatingSystem": "linux",
                "architecture": "arm64",
            },
            "images": images,
        },
    })
}

/// A pod of the `web` Deployment, bound to `node`.
pub fn pod(i: usize, node: &str) -> Value {
    let name = pod_name(i);
    let token_volume = format!("kube-api-access-{}", &name[name.len() - 5..]);
    let mounts = |extra: Value| {
        let mut m = vec![json!({
            "name": token_volume, "readOnly": true,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        })];
        if let Value::Array(more) = extra {
            m.extend(more);
        }
        m
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{REPLICA_SET}-"),
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "7d4b9c8f6d"},
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9102",
                "kubectl.kubernetes.io/restartedAt": "2026-11-20T09:14:03Z",
            },
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "web",
                    "image": "docker.io/library/nginx:1.27-alpine",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                              {"name": "metrics", "containerPort": 9102, "protocol": "TCP"}],
                    "env": [
                        {"name": "APP_MODE", "value": "production"},
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "CACHE_SIZE_MB", "value": "64"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                    },
                    "volumeMounts": mounts(json!([
                        {"name": "config", "mountPath": "/etc/nginx/conf.d", "readOnly": true},
                        {"name": "cache", "mountPath": "/var/cache/nginx"},
                        {"name": "logs", "mountPath": "/var/log/nginx"},
                    ])),
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 15, "periodSeconds": 20},
                    "imagePullPolicy": "IfNotPresent",
                },
                {
                    "name": "log-shipper",
                    "image": "docker.io/fluent/fluent-bit:3.1",
                    "args": ["--config=/fluent-bit/etc/fluent-bit.conf"],
                    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
                    "resources": {
                        "requests": {"cpu": "20m", "memory": "32Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    "volumeMounts": mounts(json!([
                        {"name": "logs", "mountPath": "/var/log/nginx", "readOnly": true},
                    ])),
                    "imagePullPolicy": "IfNotPresent",
                },
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-nginx", "defaultMode": 420}},
                {"name": "cache", "emptyDir": {"sizeLimit": "256Mi"}},
                {"name": "logs", "emptyDir": {}},
                {"name": token_volume, "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ]}},
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "serviceAccountName": "default",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
    })
}

/// The status a kubelet reports once both containers run (a merge patch of `pods/status`).
pub fn running_status(i: usize, node: usize, now: &str) -> Value {
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let container = |name: &str, image: &str| {
        json!({
            "name": name,
            "image": image,
            "imageID": format!("{image}@sha256:{:064x}", (name.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            "containerID": format!("bramble://{:064x}", (i as u128) << 40 | name.len() as u128),
            "ready": true,
            "started": true,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        })
    };
    let ip = format!("10.42.{}.{}", node, 2 + i % 250);
    json!({"status": {
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers"), condition("Initialized"),
            condition("Ready"), condition("ContainersReady"), condition("PodScheduled"),
        ],
        "hostIP": format!("192.168.1.{}", 10 + node % 240),
        "hostIPs": [{"ip": format!("192.168.1.{}", 10 + node % 240)}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": "Burstable",
        "containerStatuses": [
            container("web", "docker.io/library/nginx:1.27-alpine"),
            container("log-shipper", "docker.io/fluent/fluent-bit:3.1"),
        ],
    }})
}
