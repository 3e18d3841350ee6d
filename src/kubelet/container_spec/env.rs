//! A container's environment as the kubelet computes it (`makeEnvironmentVariables`):
//! `envFrom` sources first, then `env` in order, each value expanded against the variables
//! before it and the Service variables or resolved from the downward API (`fieldRef`,
//! `resourceFieldRef`) or a ConfigMap/Secret key; then the Service variables the container
//! does not set itself.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};

use super::expansion::expand;
use super::ContainerConfigError;
use crate::kubelet::downward_api;
pub use crate::kubelet::downward_api::Allocatable;
use crate::kubelet::volume::SourceLookup;

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
    downward_api::namespace(pod)
}

/// Upstream's `podFieldSelectorRuntimeValue`: the pod's spec and status fields here, its
/// metadata through [`downward_api::metadata_field`].
fn field_value(
    ctx: &EnvContext,
    sel: &ObjectFieldSelector,
) -> Result<String, ContainerConfigError> {
    let path = sel.field_path.as_str();
    if let Some(v) = downward_api::metadata_field(ctx.pod, path) {
        return Ok(v);
    }
    let spec = ctx.pod.spec.as_ref();
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    Ok(match path {
        "spec.nodeName" => s(spec.and_then(|s| s.node_name.as_ref())),
        "spec.serviceAccountName" => s(spec.and_then(|s| s.service_account_name.as_ref())),
        "status.podIP" => ctx.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ctx.pod_ips.join(","),
        "status.hostIP" => ctx.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => ctx.host_ips.join(","),
        _ => return Err(downward_api::DownwardApiError::FieldPath(path.to_string()).into()),
    })
}

/// A `resourceFieldRef` of `own` (or of the container it names).
fn resource_value(
    ctx: &EnvContext,
    own: &Container,
    sel: &ResourceFieldSelector,
) -> Result<String, ContainerConfigError> {
    let container =
        downward_api::find_container(ctx.pod, sel.container_name.as_deref(), Some(own))?;
    Ok(downward_api::resource_value(
        container,
        sel,
        ctx.allocatable,
    )?)
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
