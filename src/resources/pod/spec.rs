//! Pod spec rules: upstream's `ValidatePodSpec` and the container checks it calls
//! (`validateContainers`, `validateContainerPorts`, `ValidateResourceRequirements`,
//! `validatePullPolicy`, `validateRestartPolicy`, `validateDNSPolicy`, `validateTolerations`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::volumes::{dns1123_label_errors, validate_volume_mounts, validate_volumes};
use crate::resources::quantity::Quantity;
use crate::resources::validation::fields::{at, int_at, list_at, map_at, str_at};
use crate::resources::validation::{
    is_dns1123_subdomain, is_qualified_name, is_valid_port_name, is_valid_port_num,
    validate_labels, IS_NEGATIVE,
};
use crate::resources::FieldError;

/// Upstream `supportedPortProtocols`, sorted as `sets.List` returns them.
pub const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Validates a pod's `spec`.
pub fn validate_pod_spec(pod: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = at(pod, &["spec"]).unwrap_or(&null);
    let volumes = validate_volumes(list_at(spec, &["volumes"]), &mut errs);
    let containers = list_at(spec, &["containers"]);
    if containers.is_empty() {
        errs.push(FieldError::required("spec.containers", ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("spec.containers[{i}]");
        errs.extend(validate_container(c, &volumes, &path));
        let name = str_at(c, &["name"]);
        if !names.insert(name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
    }
    // Init container names must be unique among themselves and against regular containers.
    let mut init_names = BTreeSet::new();
    for (i, c) in list_at(spec, &["initContainers"]).iter().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        let name = str_at(c, &["name"]);
        if names.contains(name) || !init_names.insert(name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
        errs.extend(validate_container(c, &volumes, &path));
    }
    errs.extend(super::ephemeral::validate_ephemeral_containers(
        spec, &volumes,
    ));
    errs.extend(enum_field(
        spec,
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
    ));
    errs.extend(enum_field(
        spec,
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ));
    errs.extend(validate_labels(
        map_at(spec, &["nodeSelector"]),
        "spec.nodeSelector",
    ));
    for field in ["nodeName", "serviceAccountName"] {
        let v = str_at(spec, &[field]);
        if !v.is_empty() {
            for m in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(format!("spec.{field}"), &json!(v), &m));
            }
        }
    }
    for field in ["hostname", "subdomain"] {
        let v = str_at(spec, &[field]);
        if !v.is_empty() {
            errs.extend(dns1123_label_errors(v, &format!("spec.{field}")));
        }
    }
    if let Some(ads) = int_at(spec, &["activeDeadlineSeconds"]) {
        if !(1..=i64::from(i32::MAX)).contains(&ads) {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                &json!(ads),
                &format!("must be between 1 and {}, inclusive", i32::MAX),
            ));
        }
    }
    errs.extend(validate_tolerations(list_at(spec, &["tolerations"])));
    errs
}

/// An enumerated string field: `Required` when empty, `NotSupported` when unknown.
fn enum_field(spec: &Value, field: &str, allowed: &[&str]) -> Vec<FieldError> {
    let v = str_at(spec, &[field]);
    if v.is_empty() {
        vec![FieldError::required(format!("spec.{field}"), "")]
    } else if !allowed.contains(&v) {
        vec![FieldError::not_supported(
            format!("spec.{field}"),
            &json!(v),
            allowed,
        )]
    } else {
        Vec::new()
    }
}

pub(super) fn validate_container(
    c: &Value,
    volumes: &BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(c, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        errs.extend(dns1123_label_errors(name, &format!("{path}.name")));
    }
    if str_at(c, &["image"]).is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    match str_at(c, &["terminationMessagePolicy"]) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            format!("{path}.terminationMessagePolicy"),
            "must be 'File' or 'FallbackToLogsOnError'",
        )),
        other => errs.push(FieldError::invalid(
            format!("{path}.terminationMessagePolicy"),
            &json!(other),
            "must be 'File' or 'FallbackToLogsOnError'",
        )),
    }
    errs.extend(validate_ports(
        list_at(c, &["ports"]),
        &format!("{path}.ports"),
    ));
    errs.extend(validate_env(list_at(c, &["env"]), &format!("{path}.env")));
    errs.extend(validate_volume_mounts(
        c,
        volumes,
        &format!("{path}.volumeMounts"),
    ));
    match str_at(c, &["imagePullPolicy"]) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(format!("{path}.imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.imagePullPolicy"),
            &json!(other),
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs.extend(validate_resources(c, &format!("{path}.resources")));
    errs
}

fn validate_ports(ports: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("{path}[{i}]");
        let name = str_at(p, &["name"]);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(format!("{pp}.name"), &json!(name), &m));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), &json!(name)));
            }
        }
        let cp = int_at(p, &["containerPort"]).unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(format!("{pp}.containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(
                    format!("{pp}.containerPort"),
                    &json!(cp),
                    &m,
                ));
            }
        }
        let hp = int_at(p, &["hostPort"]).unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(
                    format!("{pp}.hostPort"),
                    &json!(hp),
                    &m,
                ));
            }
        }
        let proto = str_at(p, &["protocol"]);
        if proto.is_empty() {
            errs.push(FieldError::required(format!("{pp}.protocol"), ""));
        } else if !PORT_PROTOCOLS.contains(&proto) {
            errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                &json!(proto),
                PORT_PROTOCOLS,
            ));
        }
    }
    errs
}

/// Upstream `ValidateEnv` (with v1.32's relaxed variable names) and
/// `validateEnvVarValueFrom`.
fn validate_env(env: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let ep = format!("{path}[{i}]");
        let name = str_at(e, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{ep}.name"), ""));
        } else if name.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
            errs.push(FieldError::invalid(
                format!("{ep}.name"),
                &json!(name),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
        let Some(from) = at(e, &["valueFrom"]).filter(|v| !v.is_null()) else {
            continue;
        };
        let vp = format!("{ep}.valueFrom");
        let sources = [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ]
        .iter()
        .filter(|k| from.get(**k).is_some_and(|v| !v.is_null()))
        .count();
        if !str_at(e, &["value"]).is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                &json!(""),
                "may not be specified when `value` is not empty",
            ));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &vp,
                &json!(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &vp,
                &json!(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// Parses a quantity field, reporting upstream's parse message when it is not one.
pub fn quantity(v: &Value, path: &str, errs: &mut Vec<FieldError>) -> Option<Quantity> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    match Quantity::parse(&text) {
        Ok(q) => Some(q),
        Err(e) => {
            errs.push(FieldError::invalid(path, v, &e.to_string()));
            None
        }
    }
}

/// Upstream `validateContainerResourceName`: cpu, memory, ephemeral-storage, hugepages-* or
/// a domain-qualified extended resource.
fn validate_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> = is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, &json!(name), &m))
        .collect();
    let standard =
        matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    if errs.is_empty() && native && !standard {
        errs.push(FieldError::invalid(
            path,
            &json!(name),
            "must be a standard resource for containers",
        ));
    }
    errs
}

/// Upstream `ValidateResourceRequirements`: valid names, non-negative quantities, requests at
/// most the limits (equal for resources that cannot be overcommitted).
fn validate_resources(c: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let limits = map_at(c, &["resources", "limits"]);
    let requests = map_at(c, &["resources", "requests"]);
    let mut parsed_limits = std::collections::BTreeMap::new();
    for (name, v) in limits {
        let fp = format!("{path}.limits[{name}]");
        errs.extend(validate_resource_name(name, &fp));
        if let Some(q) = quantity(v, &fp, &mut errs) {
            if q.is_negative() {
                errs.push(FieldError::invalid(&fp, &json!(q.to_string()), IS_NEGATIVE));
            }
            parsed_limits.insert(name.as_str(), q);
        }
    }
    for (name, v) in requests {
        let fp = format!("{path}.requests[{name}]");
        errs.extend(validate_resource_name(name, &fp));
        let Some(q) = quantity(v, &fp, &mut errs) else {
            continue;
        };
        if q.is_negative() {
            errs.push(FieldError::invalid(&fp, &json!(q.to_string()), IS_NEGATIVE));
        }
        let overcommit = !(name.starts_with("hugepages-")
            || (name.contains('/') && !name.contains("kubernetes.io/")));
        match parsed_limits.get(name.as_str()) {
            Some(limit) if !overcommit && q != *limit => errs.push(FieldError::invalid(
                format!("{path}.requests"),
                &json!(q.to_string()),
                &format!("must be equal to {name} limit of {limit}"),
            )),
            Some(limit) if q > *limit => errs.push(FieldError::invalid(
                format!("{path}.requests"),
                &json!(q.to_string()),
                &format!("must be less than or equal to {name} limit of {limit}"),
            )),
            None if !overcommit => errs.push(FieldError::required(
                format!("{path}.limits"),
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
    }
    errs
}

/// Upstream `validateTolerations`.
fn validate_tolerations(tolerations: &[Value]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let tp = format!("spec.tolerations[{i}]");
        let key = str_at(t, &["key"]);
        if !key.is_empty() {
            for m in is_qualified_name(key) {
                errs.push(FieldError::invalid(format!("{tp}.key"), &json!(key), &m));
            }
        }
        let operator = str_at(t, &["operator"]);
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                format!("{tp}.operator"),
                &json!(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        let effect = str_at(t, &["effect"]);
        if at(t, &["tolerationSeconds"]).is_some_and(|v| !v.is_null()) && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{tp}.effect"),
                &json!(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "" | "Equal" => {
                let value = str_at(t, &["value"]);
                for m in crate::resources::validation::is_valid_label_value(value) {
                    errs.push(FieldError::invalid(
                        format!("{tp}.operator"),
                        &json!(value),
                        &m,
                    ));
                }
            }
            "Exists" => {
                let value = str_at(t, &["value"]);
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{tp}.operator"),
                        &json!(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{tp}.operator"),
                &json!(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                format!("{tp}.effect"),
                &json!(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}
