//! A container's environment as the kubelet computes it (`makeEnvironmentVariables`):
//! `envFrom` sources first, then `env` in order, each value expanded against the variables
//! before it and the Service variables or resolved from the downward API (`fieldRef`,
//! `resourceFieldRef`) or a ConfigMap/Secret key; then the Service variables the container
//! does not set itself.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use super::expansion::expand;
use super::ContainerConfigError;
use crate::kubelet::volume::SourceLookup;
use crate::resources::quantity::Quantity;

/// The node's allocatable CPU and memory: the limits the downward API reports for a container
/// that sets none (upstream `defaultPodLimitsForDownwardAPI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocatable {
    /// Allocatable CPU in millicores.
    pub cpu_milli: i64,
    /// Allocatable memory in bytes.
    pub memory_bytes: i64,
}

/// What environment values may refer to besides the pod itself.
pub struct EnvContext<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// The pod's IPs (`status.podIP` is the first).
    pub pod_ips: &'a [String],
    /// The node's IPs (`status.hostIP` is the first).
    pub host_ips: &'a [String],
    /// The node's allocatable resources.
    pub allocatable: Allocatable,
    /// Where ConfigMaps and Secrets come from.
    pub sources: &'a dyn SourceLookup,
    /// The Service variables ([`super::service_env::service_env`]).
    pub service_env: &'a BTreeMap<String, String>,
}

/// Ordered `NAME -> value` pairs; setting a name again replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl EnvList {
    fn set(&mut self, name: String, value: String) {
        if !self.values.contains_key(&name) {
            self.order.push(name.clone());
        }
        self.values.insert(name, value);
    }

    /// The variables by name (the context of `$(VAR)` in `command` and `args`).
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.values
    }

    /// `NAME=value` strings in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.order
            .iter()
            .map(|k| format!("{k}={}", self.values[k]))
            .collect()
    }
}

/// Upstream's `IsEnvVarName`: letters, digits, `_`, `-`, `.`, not starting with a digit.
fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || "_-.".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// `metadata.labels['key']` -> (`metadata.labels`, `key`).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (base, rest) = path.split_once("['")?;
    Some((base, rest.strip_suffix("']")?))
}

/// Upstream's `podFieldSelectorRuntimeValue` + `fieldpath.ExtractFieldPathAsString`.
fn field_value(
    ctx: &EnvContext,
    sel: &ObjectFieldSelector,
) -> Result<String, ContainerConfigError> {
    let pod = ctx.pod;
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let path = sel.field_path.as_str();
    if let Some((base, key)) = subscript(path) {
        let map = match base {
            "metadata.labels" => &meta.labels,
            "metadata.annotations" => &meta.annotations,
            _ => return Err(ContainerConfigError::FieldPath(path.to_string())),
        };
        return Ok(map
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default());
    }
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    Ok(match path {
        "metadata.name" => s(meta.name.as_ref()),
        "metadata.namespace" => namespace(pod).to_string(),
        "metadata.uid" => s(meta.uid.as_ref()),
        "spec.nodeName" => s(spec.and_then(|s| s.node_name.as_ref())),
        "spec.serviceAccountName" => s(spec.and_then(|s| s.service_account_name.as_ref())),
        "status.podIP" => ctx.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ctx.pod_ips.join(","),
        "status.hostIP" => ctx.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => ctx.host_ips.join(","),
        _ => return Err(ContainerConfigError::FieldPath(path.to_string())),
    })
}

fn parse_quantity(q: &ApiQuantity) -> Result<Quantity, ContainerConfigError> {
    Quantity::parse(&q.0).map_err(|_| ContainerConfigError::Quantity(q.0.clone()))
}

/// Upstream's `ExtractContainerResourceValue`, with limits defaulted to node allocatable.
fn resource_value(
    ctx: &EnvContext,
    own: &Container,
    sel: &ResourceFieldSelector,
) -> Result<String, ContainerConfigError> {
    let container = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => own,
        Some(name) => ctx
            .pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == name)
            .ok_or_else(|| ContainerConfigError::ContainerNotFound(name.to_string()))?,
    };
    let resources = container.resources.as_ref();
    let get = |requests: bool, key: &str| -> Result<Option<Quantity>, ContainerConfigError> {
        let map = resources.and_then(|r| {
            if requests {
                r.requests.as_ref()
            } else {
                r.limits.as_ref()
            }
        });
        map.and_then(|m| m.get(key)).map(parse_quantity).transpose()
    };
    let divisor = match &sel.divisor {
        Some(d) => parse_quantity(d)?,
        None => Quantity::from_units(1),
    };
    let alloc = ctx.allocatable;
    // CPU is divided in millicores, memory in bytes, both rounded up (upstream
    // `convertResourceCPUToString` / `convertResourceMemoryToString`).
    let ceil_div = |n: i64, d: i64| -> Result<String, ContainerConfigError> {
        if d == 0 {
            return Err(ContainerConfigError::Quantity("0".into()));
        }
        Ok(((n as f64) / (d as f64)).ceil().to_string())
    };
    let zero = Quantity::from_units(0);
    match sel.resource.as_str() {
        "limits.cpu" => {
            let cpu = get(false, "cpu")?.map_or(alloc.cpu_milli, |q| q.milli_value());
            ceil_div(cpu, divisor.milli_value())
        }
        "requests.cpu" => ceil_div(
            get(true, "cpu")?.unwrap_or(zero).milli_value(),
            divisor.milli_value(),
        ),
        "limits.memory" => {
            let mem = get(false, "memory")?.map_or(alloc.memory_bytes, |q| q.value());
            ceil_div(mem, divisor.value())
        }
        "requests.memory" => ceil_div(
            get(true, "memory")?.unwrap_or(zero).value(),
            divisor.value(),
        ),
        other => Err(ContainerConfigError::Resource(other.to_string())),
    }
}

/// The container's environment, without the image's (which comes first in the process).
pub fn container_env(
    ctx: &EnvContext,
    container: &Container,
) -> Result<EnvList, ContainerConfigError> {
    let ns = namespace(ctx.pod);
    let mut env = EnvList::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let data: Vec<(String, String)> = if let Some(r) = &from.config_map_ref {
            match ctx.sources.config_map(ns, &r.name) {
                Some(cm) => cm.data.unwrap_or_default().into_iter().collect(),
                None if r.optional == Some(true) => continue,
                None => return Err(ContainerConfigError::ConfigMapNotFound(r.name.clone())),
            }
        } else if let Some(r) = &from.secret_ref {
            match ctx.sources.secret(ns, &r.name) {
                Some(s) => s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => continue,
                None => return Err(ContainerConfigError::SecretNotFound(r.name.clone())),
            }
        } else {
            continue;
        };
        for (key, value) in data {
            let name = format!("{prefix}{key}");
            // Upstream skips invalid names (reporting them in an event) rather than failing.
            if is_env_var_name(&name) {
                env.set(name, value);
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = var.value.as_deref().unwrap_or_default();
        let resolved = if !value.is_empty() {
            expand(value, &|name| {
                env.values
                    .get(name)
                    .or_else(|| ctx.service_env.get(name))
                    .cloned()
            })
        } else if let Some(from) = &var.value_from {
            if let Some(sel) = &from.field_ref {
                field_value(ctx, sel)?
            } else if let Some(sel) = &from.resource_field_ref {
                resource_value(ctx, container, sel)?
            } else if let Some(sel) = &from.config_map_key_ref {
                let optional = sel.optional == Some(true);
                let Some(cm) = ctx.sources.config_map(ns, &sel.name) else {
                    if optional {
                        continue;
                    }
                    return Err(ContainerConfigError::ConfigMapNotFound(sel.name.clone()));
                };
                match cm.data.as_ref().and_then(|d| d.get(&sel.key)) {
                    Some(v) => v.clone(),
                    None if optional => continue,
                    None => {
                        return Err(ContainerConfigError::MissingKey {
                            key: sel.key.clone(),
                            kind: "ConfigMap",
                            object: format!("{ns}/{}", sel.name),
                        })
                    }
                }
            } else if let Some(sel) = &from.secret_key_ref {
                let optional = sel.optional == Some(true);
                let Some(secret) = ctx.sources.secret(ns, &sel.name) else {
                    if optional {
                        continue;
                    }
                    return Err(ContainerConfigError::SecretNotFound(sel.name.clone()));
                };
                match secret.data.as_ref().and_then(|d| d.get(&sel.key)) {
                    Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(ContainerConfigError::MissingKey {
                            key: sel.key.clone(),
                            kind: "Secret",
                            object: format!("{ns}/{}", sel.name),
                        })
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(var.name.clone(), resolved);
    }
    for (name, value) in ctx.service_env {
        if !env.values.contains_key(name) {
            env.set(name.clone(), value.clone());
        }
    }
    Ok(env)
}
