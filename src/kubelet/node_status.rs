//! The Node object this kubelet registers and keeps current: capacity and allocatable read
//! from the board, labels (arch, os, hostname, board model), addresses, nodeInfo and the
//! Ready and pressure conditions (upstream's `kubelet_node_status.go`).

use serde_json::{json, Value};

use super::devices::{self, DeviceDeclaration};
use super::machine::{label_value, Machine};
use crate::resources::meta;

/// Upstream's default `--max-pods`.
pub const MAX_PODS: u64 = 110;
/// Memory held back from pods: upstream's default hard eviction threshold
/// `memory.available<100Mi`.
pub const EVICTION_MEMORY_BYTES: u64 = 100 << 20;
/// Share of the disk held back from pods: upstream's `nodefs.available<10%`.
pub const EVICTION_DISK_PERCENT: u64 = 10;
/// Label carrying the device-tree board model.
pub const BOARD_MODEL_LABEL: &str = "bramble.io/board-model";

/// What the kubelet reports besides the machine facts.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// Node name.
    pub name: String,
    /// `InternalIP` address.
    pub internal_ip: Option<String>,
    /// `containerRuntimeVersion`, e.g. `bramble://0.1.0` or `runc://1.1.5`.
    pub runtime_version: String,
    /// Extra labels (e.g. the control-plane role on a server).
    pub labels: Vec<(String, String)>,
    /// The port the kubelet serves logs and exec on (`None` on the server's own board,
    /// whose kubelet the API server calls in process).
    pub kubelet_port: Option<u16>,
    /// Host devices offered as extended resources, counted when each status is computed.
    pub devices: Vec<DeviceDeclaration>,
}

/// The Node object as first registered.
pub fn node_object(id: &NodeIdentity, m: &Machine) -> Value {
    let arch = crate::resources::node_arch();
    let mut labels = json!({
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": id.name,
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
    });
    if let Some(model) = &m.board_model {
        labels[BOARD_MODEL_LABEL] = json!(label_value(model));
    }
    labels[crate::hardware::BOARD_LABEL] = json!(label_value(&m.board));
    for (k, v) in &id.labels {
        labels[k] = json!(v);
    }
    let mut annotations = json!({});
    if let Some(model) = &m.board_model {
        annotations[BOARD_MODEL_LABEL] = json!(model);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": id.name, "labels": labels, "annotations": annotations},
        "spec": {},
        "status": status(id, m),
    })
}

/// The node's status: resources, addresses, nodeInfo and conditions.
pub fn status(id: &NodeIdentity, m: &Machine) -> Value {
    let mut capacity = json!({
        "cpu": m.cpus.to_string(),
        "memory": format!("{}Ki", m.memory_bytes / 1024),
        "ephemeral-storage": format!("{}Ki", m.disk_bytes / 1024),
        "pods": MAX_PODS.to_string(),
    });
    // as the kubelet's allocatable: capacity less system-reserved less the hard eviction
    // threshold
    let alloc_memory = m
        .memory_bytes
        .saturating_sub(m.system_reserved_bytes)
        .saturating_sub(EVICTION_MEMORY_BYTES);
    let alloc_disk = m.disk_bytes / 100 * (100 - EVICTION_DISK_PERCENT);
    let mut allocatable = json!({
        "cpu": m.cpus.to_string(),
        "memory": format!("{}Ki", alloc_memory / 1024),
        "ephemeral-storage": alloc_disk.to_string(),
        "pods": MAX_PODS.to_string(),
    });
    // Device plugins' resources: present devices count, a declared one that is gone is 0.
    for (resource, count) in devices::capacity(&id.devices) {
        capacity[&resource] = json!(count.to_string());
        allocatable[&resource] = json!(count.to_string());
    }
    let mut addresses = Vec::new();
    if let Some(ip) = &id.internal_ip {
        addresses.push(json!({"type": "InternalIP", "address": ip}));
    }
    addresses.push(json!({"type": "Hostname", "address": id.name}));
    let mut endpoints = json!({});
    if let Some(port) = id.kubelet_port {
        endpoints["kubeletEndpoint"] = json!({"Port": port});
    }
    json!({
        "daemonEndpoints": endpoints,
        "capacity": capacity,
        "allocatable": allocatable,
        "addresses": addresses,
        "conditions": conditions(),
        "nodeInfo": {
            "machineID": m.machine_id,
            "systemUUID": m.machine_id,
            "bootID": m.boot_id,
            "kernelVersion": m.kernel_version,
            "osImage": m.os_image,
            "containerRuntimeVersion": id.runtime_version,
            "kubeletVersion": format!("v1.{}.0+bramble.{}", crate::resources::KUBE_MINOR, env!("CARGO_PKG_VERSION")),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": crate::resources::node_arch(),
        },
    })
}

/// Whether `new` says anything `old` did not, heartbeat and transition times aside
/// (upstream's `nodeStatusHasChanged`).
pub fn changed(old: &Value, new: &Value) -> bool {
    without_times(old) != without_times(new)
}

/// Gives each condition of `new` whose status is the same as in `old` the transition time
/// it had there: a condition's `lastTransitionTime` moves only when its status does.
pub fn keep_transition_times(old: &Value, new: &mut Value) {
    let Some(olds) = old["conditions"].as_array() else {
        return;
    };
    let Some(news) = new.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for c in news {
        if let Some(o) = olds
            .iter()
            .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
        {
            c["lastTransitionTime"] = o["lastTransitionTime"].clone();
        }
    }
}

fn without_times(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(cs) = s.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("lastHeartbeatTime");
            c.remove("lastTransitionTime");
        }
    }
    s
}

/// Whether the Node object's Ready condition is True.
pub fn is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn condition(
    kind: &str,
    pressure: bool,
    ok_reason: &str,
    ok_msg: &str,
    bad_reason: &str,
    bad_msg: &str,
) -> Value {
    let now = meta::now();
    let (status, reason, message) = if pressure {
        ("True", bad_reason, bad_msg)
    } else {
        ("False", ok_reason, ok_msg)
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastHeartbeatTime": now, "lastTransitionTime": now})
}

/// Upstream's condition set, with its reasons and messages. The pressure conditions start
/// False: the eviction manager (`kubelet/node_health`) decides them from its thresholds and
/// its conditions replace these.
fn conditions() -> Vec<Value> {
    let now = meta::now();
    vec![
        condition(
            "MemoryPressure",
            false,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        ),
        condition(
            "DiskPressure",
            false,
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            "KubeletHasDiskPressure",
            "kubelet has disk pressure",
        ),
        condition(
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
        ),
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
               "message": "kubelet is posting ready status",
               "lastHeartbeatTime": now, "lastTransitionTime": now}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi() -> Machine {
        Machine {
            cpus: 4,
            memory_bytes: 4 << 30,
            disk_bytes: 32 << 30,
            disk_free_bytes: 20 << 30,
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel_version: "6.6.31+rpt-rpi-v8".into(),
            machine_id: "m".into(),
            boot_id: "b".into(),
            board_model: Some("Raspberry Pi 4 Model B Rev 1.4".into()),
            board: "rpi4b".into(),
            system_reserved_bytes: 192 << 20,
        }
    }

    #[test]
    fn node_reports_board_resources_labels_and_ready() {
        let id = NodeIdentity {
            name: "pi-1".into(),
            internal_ip: Some("192.168.1.40".into()),
            runtime_version: "bramble://0.1.0".into(),
            labels: vec![(
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            )],
            kubelet_port: Some(10250),
            devices: vec![],
        };
        let n = node_object(&id, &pi());
        assert_eq!(n["status"]["capacity"]["cpu"], "4");
        assert_eq!(n["status"]["capacity"]["memory"], "4194304Ki");
        assert_eq!(
            n["status"]["allocatable"]["memory"],
            format!("{}Ki", ((4u64 << 30) - (192 << 20) - (100 << 20)) / 1024)
        );
        assert_eq!(
            n["metadata"]["labels"][BOARD_MODEL_LABEL],
            "Raspberry-Pi-4-Model-B-Rev-1.4"
        );
        assert_eq!(n["metadata"]["labels"]["bramble.io/board"], "rpi4b");
        assert_eq!(
            n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            "true"
        );
        assert_eq!(n["status"]["addresses"][0]["address"], "192.168.1.40");
        let ready = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(
            n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            10250
        );
        let typed: k8s_openapi::api::core::v1::Node = serde_json::from_value(n).unwrap();
        assert_eq!(typed.metadata.name.as_deref(), Some("pi-1"));
    }

    fn bare_id() -> NodeIdentity {
        NodeIdentity {
            name: "n".into(),
            internal_ip: None,
            runtime_version: String::new(),
            labels: vec![],
            kubelet_port: None,
            devices: vec![],
        }
    }

    fn times(s: &Value, kind: &str) -> (Value, Value) {
        let c = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap();
        (
            c["lastHeartbeatTime"].clone(),
            c["lastTransitionTime"].clone(),
        )
    }

    #[test]
    fn an_idle_status_is_unchanged_but_pressure_is_a_change_with_a_new_transition_time() {
        let mut old = status(&bare_id(), &pi());
        for c in old["conditions"].as_array_mut().unwrap() {
            c["lastHeartbeatTime"] = json!("2026-01-01T00:00:00Z");
            c["lastTransitionTime"] = json!("2026-01-01T00:00:00Z");
        }
        let mut same = status(&bare_id(), &pi());
        keep_transition_times(&old, &mut same);
        assert!(!changed(&old, &same), "only times differ");
        assert_eq!(times(&same, "Ready").1, json!("2026-01-01T00:00:00Z"));
        assert_ne!(times(&same, "Ready").0, json!("2026-01-01T00:00:00Z"));

        let mut pressed = status(&bare_id(), &pi());
        crate::kubelet::node_health::apply_conditions(
            &mut pressed,
            vec![
                json!({"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure",
                        "message": "kubelet has disk pressure", "lastTransitionTime": meta::now()}),
            ],
        );
        keep_transition_times(&old, &mut pressed);
        assert!(changed(&old, &pressed));
        assert_ne!(
            times(&pressed, "DiskPressure").1,
            json!("2026-01-01T00:00:00Z")
        );
        assert_eq!(times(&pressed, "Ready").1, json!("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn present_devices_are_extended_resources_and_absent_ones_zero() {
        let pid = std::process::id();
        let mut id = bare_id();
        id.devices = vec![
            DeviceDeclaration::parse("/dev/null=bramble.io/i2c-1").unwrap(),
            DeviceDeclaration::parse(&format!("/dev/bramble-absent-{pid}")).unwrap(),
        ];
        let s = status(&id, &pi());
        for list in ["capacity", "allocatable"] {
            assert_eq!(s[list]["bramble.io/i2c-1"], "1", "{list}");
            assert_eq!(
                s[list][format!("bramble.io/bramble-absent-{pid}")],
                "0",
                "{list}"
            );
            assert_eq!(s[list]["cpu"], "4", "{list}");
        }
    }
}
