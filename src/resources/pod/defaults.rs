//! Pod defaults: upstream's `SetDefaults_Pod`, `SetDefaults_PodSpec`, `SetDefaults_Container`
//! and friends (`pkg/apis/core/v1/defaults.go`), plus what upstream's admission plugins add to
//! every pod: `DefaultTolerationSeconds`, `Priority` and the `ServiceAccount` name.

use serde_json::{json, Map, Value};

use crate::resources::validation::fields::{default_field, object_mut};

/// Upstream `DefaultTolerationSeconds` plugin's default: five minutes on a lost node.
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Applies every pod default to `obj` in place.
pub fn set_pod_defaults(obj: &mut Value) {
    let mirror = obj
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some();
    let Some(spec) = object_mut(obj, &["spec"]) else {
        return;
    };
    set_pod_spec_defaults(spec, true);
    // Upstream `SetDefaults_Pod`: only pods, not pod templates, get service links by default.
    default_field(spec, "enableServiceLinks", json!(true));
    // The ServiceAccount admission plugin names the namespace's default account (never for
    // a mirror pod, which a node creates and may not tie to an account); the deprecated
    // `serviceAccount` field mirrors it on output.
    if !mirror {
        default_field(spec, "serviceAccountName", json!("default"));
    }
    if let Some(sa) = spec.get("serviceAccountName").cloned() {
        default_field(spec, "serviceAccount", sa);
    }
    set_priority(spec);
    add_default_tolerations(spec);
}

/// The defaults a pod template's `spec` gets (Deployments, ReplicaSets, ...): upstream's
/// `SetDefaults_PodSpec` with the container, probe and volume defaults, but none of what
/// `SetDefaults_Pod` and the admission plugins add to pods only.
pub fn set_pod_template_spec_defaults(spec: &mut Map<String, Value>) {
    set_pod_spec_defaults(spec, false);
}

/// `SetDefaults_PodSpec` and the per-item defaults below it; `pod` adds what upstream's
/// `SetDefaults_Pod` does to a pod's containers (host ports on the host network, requests
/// from limits).
fn set_pod_spec_defaults(spec: &mut Map<String, Value>, pod: bool) {
    let host_network = pod && spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(key) {
            for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                set_container_defaults(c, host_network, pod);
            }
        }
    }
    set_ephemeral_container_defaults(spec);
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        for v in volumes.iter_mut().filter_map(Value::as_object_mut) {
            set_volume_defaults(v);
        }
    }
}

/// Upstream `SetDefaults_EphemeralContainer`: the container defaults, without what
/// `SetDefaults_Pod` adds to regular and init containers only.
pub fn set_ephemeral_container_defaults(spec: &mut Map<String, Value>) {
    if let Some(Value::Array(containers)) = spec.get_mut("ephemeralContainers") {
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            set_container_defaults(c, false, false);
        }
    }
}

/// Upstream `Priority` admission: built-in system classes, otherwise priority 0 (there is no
/// global default PriorityClass), and `PreemptLowerPriority`.
fn set_priority(spec: &mut Map<String, Value>) {
    let class = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let priority = match class {
        "system-node-critical" => 2_000_001_000,
        "system-cluster-critical" => 2_000_000_000,
        _ => 0,
    };
    default_field(spec, "priority", json!(priority));
    default_field(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
}

/// Upstream `DefaultTolerationSeconds` admission: tolerate a not-ready or unreachable node for
/// five minutes unless the pod already says how it tolerates it.
fn add_default_tolerations(spec: &mut Map<String, Value>) {
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if tolerations.is_null() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

/// Upstream `ParseImageName` tag: `latest` when neither tag nor digest is given, empty when
/// only a digest is.
fn image_tag(image: &str) -> &str {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => tag,
        None if digest => "",
        None => "latest",
    }
}

fn set_container_defaults(c: &mut Map<String, Value>, host_network: bool, pod: bool) {
    if c.get("imagePullPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default_field(p, "protocol", json!("TCP"));
            // Upstream `defaultHostNetworkPorts`: on the host network the host port is the
            // container port.
            if host_network && p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                if let Some(cp) = p.get("containerPort").cloned() {
                    p.insert("hostPort".into(), cp);
                }
            }
        }
    }
    if let Some(Value::Array(env)) = c.get_mut("env") {
        for e in env.iter_mut() {
            if let Some(fr) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                default_field(fr, "apiVersion", json!("v1"));
            }
        }
    }
    // Upstream `SetDefaults_Pod`: a limit without a request requests the limit.
    if let (true, Some(Value::Object(res))) = (pod, c.get_mut("resources")) {
        if let Some(Value::Object(limits)) = res.get("limits").cloned() {
            let requests = res.entry("requests").or_insert_with(|| json!({}));
            if requests.is_null() {
                *requests = json!({});
            }
            if let Some(req) = requests.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
                if req.is_empty() {
                    res.remove("requests");
                }
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            set_probe_defaults(p);
        }
    }
}

/// Upstream `SetDefaults_Probe` and `SetDefaults_HTTPGetAction`.
fn set_probe_defaults(p: &mut Map<String, Value>) {
    default_field(p, "timeoutSeconds", json!(1));
    default_field(p, "periodSeconds", json!(10));
    default_field(p, "successThreshold", json!(1));
    default_field(p, "failureThreshold", json!(3));
    if let Some(Value::Object(h)) = p.get_mut("httpGet") {
        default_field(h, "path", json!("/"));
        default_field(h, "scheme", json!("HTTP"));
    }
}

/// Volume source keys of `core/v1.VolumeSource`, in the order upstream's
/// `validateVolumeSource` visits them (the first one found is the volume's source).
pub const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

/// Upstream `SetDefaults_Volume` (no source means an emptyDir) and the per-source defaults:
/// `defaultMode` 0644 for secret, configMap, downwardAPI and projected; hostPath `type` "".
fn set_volume_defaults(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(Value::Object(s)) = v.get_mut(source) {
            default_field(s, "defaultMode", json!(0o644));
        }
    }
    if let Some(Value::Object(h)) = v.get_mut("hostPath") {
        h.entry("type").or_insert(json!(""));
    }
    if let Some(Value::Object(items)) = v.get_mut("downwardAPI") {
        if let Some(Value::Array(items)) = items.get_mut("items") {
            for i in items.iter_mut() {
                if let Some(fr) = i.get_mut("fieldRef").and_then(Value::as_object_mut) {
                    default_field(fr, "apiVersion", json!("v1"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert_eq!(image_tag("redis"), "latest");
        assert_eq!(image_tag("redis:7"), "7");
        assert_eq!(image_tag("localhost:5000/redis"), "latest");
        assert_eq!(image_tag("redis@sha256:abc"), "");
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "redis:7"}, {"name": "b", "image": "nginx:latest"}]}});
        set_pod_defaults(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(pod["spec"]["containers"][1]["imagePullPolicy"], "Always");
    }

    #[test]
    fn tolerations_are_added_once() {
        let mut pod = json!({"spec": {"containers": [], "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}});
        set_pod_defaults(&mut pod);
        set_pod_defaults(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");
        assert_eq!(t[0]["tolerationSeconds"], 10);
    }

    #[test]
    fn limits_become_requests_and_ports_get_tcp() {
        let mut pod = json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "x",
            "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}},
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
            "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "s"}}]}});
        set_pod_defaults(&mut pod);
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            c["ports"][0],
            json!({"containerPort": 80, "hostPort": 80, "protocol": "TCP"})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(pod["spec"]["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(pod["spec"]["volumes"][1]["secret"]["defaultMode"], 420);
    }
}
