//! Baseline checks that keep a pod off the host, as upstream's `check_hostNamespaces.go`,
//! `check_hostPathVolumes.go`, `check_hostPorts.go`, `check_hostProbesAndhostLifecycle.go`
//! and `check_windowsHostProcess.go`: no host network/PID/IPC, no hostPath volumes, no
//! hostPorts, no probe or lifecycle handler aimed at another host, no Windows host process.

use std::collections::BTreeSet;

use serde_json::Value;

use super::violation::{containers, containers_phrase, join_quote, name, pluralize};
use super::violation::{security_bool, Verdict, Violation};

/// `hostNetwork`, `hostPID` and `hostIPC` must be unset or false.
pub fn host_namespaces(_meta: &Value, spec: &Value) -> Verdict {
    let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| spec.get(*f).and_then(Value::as_bool) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    (!set.is_empty()).then(|| Violation::new("host namespaces", set.join(", ")))
}

/// No volume may be a hostPath.
pub fn host_path_volumes(_meta: &Value, spec: &Value) -> Verdict {
    let names: Vec<&str> = volumes(spec)
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(name)
        .collect();
    (!names.is_empty()).then(|| {
        let detail = format!(
            "{} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names)
        );
        Violation::new("hostPath volumes", detail)
    })
}

/// The pod's volumes.
pub fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// No container port may name a hostPort.
pub fn host_ports(_meta: &Value, spec: &Value) -> Verdict {
    let mut bad = Vec::new();
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let mut uses = false;
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let port = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
            if port != 0 {
                uses = true;
                ports.insert(port.to_string());
            }
        }
        if uses {
            bad.push(name(c));
        }
    }
    (!bad.is_empty()).then(|| {
        let ports: Vec<String> = ports.into_iter().collect();
        let detail = format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        );
        Violation::new("hostPort", detail)
    })
}

/// Probes and lifecycle handlers may not set `host` (v1.34+).
pub fn host_probes_and_lifecycle(_meta: &Value, spec: &Value) -> Verdict {
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        let handlers = ["livenessProbe", "readinessProbe", "startupProbe"]
            .into_iter()
            .filter_map(|p| c.get(p))
            .chain(
                ["postStart", "preStop"]
                    .into_iter()
                    .filter_map(|h| c.get("lifecycle").and_then(|l| l.get(h))),
            );
        for handler in handlers {
            for action in ["httpGet", "tcpSocket"] {
                let host = handler.pointer(&format!("/{action}/host"));
                if let Some(host) = host.and_then(Value::as_str).filter(|h| !h.is_empty()) {
                    bad.insert(name(c));
                    hosts.insert(host);
                }
            }
        }
    }
    (!bad.is_empty()).then(|| {
        let bad: Vec<&str> = bad.into_iter().collect();
        let hosts: Vec<&str> = hosts.into_iter().collect();
        let detail = format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        );
        Violation::new("probe or lifecycle host", detail)
    })
}

/// Neither the pod nor a container may set `windowsOptions.hostProcess=true`.
pub fn windows_host_process(_meta: &Value, spec: &Value) -> Verdict {
    let flag = "windowsOptions/hostProcess";
    let bad: Vec<&str> = containers(spec)
        .filter(|c| security_bool(c, flag) == Some(true))
        .map(name)
        .collect();
    let mut setters = Vec::new();
    if security_bool(spec, flag) == Some(true) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        let detail = format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        );
        Violation::new("hostProcess", detail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admission::pod_security::violation::test_text as detail;
    use serde_json::json;

    #[test]
    fn host_namespaces_lists_each_one_set() {
        let m = json!({});
        assert_eq!(host_namespaces(&m, &json!({"hostNetwork": false})), None);
        let spec = json!({"hostNetwork": true, "hostPID": true, "hostIPC": true});
        assert_eq!(
            detail(host_namespaces(&m, &spec)),
            "host namespaces: hostNetwork=true, hostPID=true, hostIPC=true"
        );
    }

    #[test]
    fn host_path_volumes_are_named() {
        let spec = json!({"volumes": [{"name": "a", "hostPath": {"path": "/a"}},
            {"name": "e", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/b"}}]});
        assert_eq!(
            detail(host_path_volumes(&json!({}), &spec)),
            "hostPath volumes: volumes \"a\", \"b\""
        );
        let one = json!({"volumes": [{"name": "a", "hostPath": {"path": "/a"}}]});
        assert_eq!(
            detail(host_path_volumes(&json!({}), &one)),
            "hostPath volumes: volume \"a\""
        );
    }

    #[test]
    fn host_ports_sorted_as_strings() {
        let spec = json!({"containers": [
            {"name": "a", "ports": [{"containerPort": 1, "hostPort": 8080}, {"containerPort": 2}]},
            {"name": "b", "ports": [{"containerPort": 1, "hostPort": 80}]}]});
        assert_eq!(
            detail(host_ports(&json!({}), &spec)),
            "hostPort: containers \"a\", \"b\" use hostPorts 80, 8080"
        );
        let one = json!({"containers": [{"name": "a", "ports": [{"hostPort": 1}]}]});
        assert_eq!(
            detail(host_ports(&json!({}), &one)),
            "hostPort: container \"a\" uses hostPort 1"
        );
    }

    #[test]
    fn probe_and_lifecycle_hosts() {
        let spec = json!({"containers": [
            {"name": "b", "livenessProbe": {"httpGet": {"host": "1.2.3.4", "port": 80}}},
            {"name": "a", "lifecycle": {"preStop": {"tcpSocket": {"host": "x", "port": 1}}},
             "readinessProbe": {"httpGet": {"host": "", "port": 80}}}]});
        assert_eq!(
            detail(host_probes_and_lifecycle(&json!({}), &spec)),
            "probe or lifecycle host: containers \"a\", \"b\" use probe or lifecycle hosts \"1.2.3.4\", \"x\""
        );
    }

    #[test]
    fn windows_host_process_pod_and_containers() {
        let on = json!({"windowsOptions": {"hostProcess": true}});
        let spec = json!({"securityContext": on, "containers": [{"name": "a", "securityContext": on},
            {"name": "b", "securityContext": {"windowsOptions": {"hostProcess": false}}}]});
        assert_eq!(
            detail(windows_host_process(&json!({}), &spec)),
            "hostProcess: pod and container \"a\" must not set securityContext.windowsOptions.hostProcess=true"
        );
    }
}
