//! The downward API values the kubelet resolves for both environment variables and
//! `downwardAPI`/`projected` volume files: a pod's metadata by field path (upstream's
//! `fieldpath.ExtractFieldPathAsString`, with `metadata.labels` and `metadata.annotations`
//! rendered by `fieldpath.FormatMap`) and a container's resource requests and limits with
//! divisor (upstream's `ExtractContainerResourceValue`, limits defaulted to the node's
//! allocatable as `MergeContainerResourceLimits` does).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::resources::quantity::Quantity;

/// The node's allocatable resources: the limits the downward API reports for a container
/// that sets none (upstream `defaultPodLimitsForDownwardAPI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocatable {
    /// Allocatable CPU in millicores.
    pub cpu_milli: i64,
    /// Allocatable memory in bytes.
    pub memory_bytes: i64,
    /// Allocatable ephemeral storage in bytes.
    pub ephemeral_storage_bytes: i64,
}

/// Why a downward API value could not be resolved (upstream's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownwardApiError {
    /// A `fieldRef` names a field the downward API does not offer here.
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
    /// A `resourceFieldRef` names a resource the downward API does not offer.
    #[error("unsupported container resource : {0}")]
    Resource(String),
    /// A `resourceFieldRef.containerName` names no container of the pod.
    #[error("container {0} not found in the pod")]
    ContainerNotFound(String),
    /// A resource quantity or divisor is not usable.
    #[error("invalid quantity {0:?}")]
    Quantity(String),
}

/// `metadata.labels['key']` -> (`metadata.labels`, `key`).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (base, rest) = path.split_once("['")?;
    Some((base, rest.strip_suffix("']")?))
}

/// The pod's namespace, `default` when unset.
pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The value of a `metadata.*` field path of `pod`, `None` for a path that is not one:
/// `metadata.name`, `metadata.namespace`, `metadata.uid`, `metadata.labels`,
/// `metadata.annotations` and one key of the last two (`metadata.labels['app']`; a missing
/// key is the empty string).
pub fn metadata_field(pod: &Pod, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let map = |base: &str| match base {
        "metadata.labels" => Some(&meta.labels),
        "metadata.annotations" => Some(&meta.annotations),
        _ => None,
    };
    if let Some((base, key)) = subscript(path) {
        let m = map(base)?;
        return Some(
            m.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        );
    }
    if let Some(m) = map(path) {
        return Some(format_map(m.as_ref()));
    }
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    Some(match path {
        "metadata.name" => s(meta.name.as_ref()),
        "metadata.namespace" => namespace(pod).to_string(),
        "metadata.uid" => s(meta.uid.as_ref()),
        _ => return None,
    })
}

/// Upstream's `FormatMap`: one `key="value"` line per entry in key order, the value quoted
/// as Go's `%q` does, no newline after the last line.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (k, v) in map.into_iter().flatten() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(k);
        out.push('=');
        go_quote(&mut out, v);
    }
    out
}

/// Go's `strconv.Quote`: printable characters as they are, `"` and `\` escaped, the usual
/// C escapes, other control characters as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
fn go_quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() || c == '\u{ad}' => {
                let n = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if n < 0x80 {
                    write!(out, "\\x{n:02x}")
                } else if n < 0x10000 {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn parse_quantity(q: &ApiQuantity) -> Result<Quantity, DownwardApiError> {
    Quantity::parse(&q.0).map_err(|_| DownwardApiError::Quantity(q.0.clone()))
}

/// The container `name` of `pod` (containers, then init containers); `None` or an empty
/// name means `own`.
pub fn find_container<'a>(
    pod: &'a Pod,
    name: Option<&str>,
    own: Option<&'a Container>,
) -> Result<&'a Container, DownwardApiError> {
    let name = name.filter(|n| !n.is_empty());
    if let (None, Some(own)) = (name, own) {
        return Ok(own);
    }
    let name = name.unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| c.name == name)
        .ok_or_else(|| DownwardApiError::ContainerNotFound(name.to_string()))
}

/// `n / d` rounded up, as upstream's `math.Ceil` over the two values.
fn ceil_div(n: i64, d: i64) -> Result<String, DownwardApiError> {
    if d <= 0 {
        return Err(DownwardApiError::Quantity(d.to_string()));
    }
    let q = n.div_euclid(d) + i64::from(n.rem_euclid(d) != 0);
    Ok(q.to_string())
}

/// Upstream's `ExtractContainerResourceValue` for `container`: CPU is divided in
/// millicores, memory and ephemeral storage in bytes, both rounded up; a limit the
/// container does not set is the node's allocatable.
pub fn resource_value(
    container: &Container,
    sel: &ResourceFieldSelector,
    allocatable: Allocatable,
) -> Result<String, DownwardApiError> {
    let resources = container.resources.as_ref();
    let get = |requests: bool, key: &str| -> Result<Option<Quantity>, DownwardApiError> {
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
    let request = |key: &str| -> Result<i64, DownwardApiError> {
        Ok(get(true, key)?.map_or(0, |q| q.value()))
    };
    match sel.resource.as_str() {
        "limits.cpu" => {
            let cpu = get(false, "cpu")?.map_or(allocatable.cpu_milli, |q| q.milli_value());
            ceil_div(cpu, divisor.milli_value())
        }
        "requests.cpu" => {
            let cpu = get(true, "cpu")?.map_or(0, |q| q.milli_value());
            ceil_div(cpu, divisor.milli_value())
        }
        "limits.memory" => {
            let mem = get(false, "memory")?.map_or(allocatable.memory_bytes, |q| q.value());
            ceil_div(mem, divisor.value())
        }
        "requests.memory" => ceil_div(request("memory")?, divisor.value()),
        "limits.ephemeral-storage" => {
            let disk = get(false, "ephemeral-storage")?
                .map_or(allocatable.ephemeral_storage_bytes, |q| q.value());
            ceil_div(disk, divisor.value())
        }
        "requests.ephemeral-storage" => ceil_div(request("ephemeral-storage")?, divisor.value()),
        other => Err(DownwardApiError::Resource(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "uid": "u-1",
                         "labels": {"tier": "front", "app": "web"},
                         "annotations": {"note": "say \"hi\"\n\tback\\slash \u{1} é"}},
            "spec": {"containers": [
                {"name": "main", "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi", "ephemeral-storage": "1Gi"},
                    "limits": {"memory": "128Mi"}}}],
                "initContainers": [{"name": "init"}]}
        }))
        .unwrap()
    }

    #[test]
    fn metadata_paths_and_maps_as_upstream_formats_them() {
        let pod = pod();
        assert_eq!(metadata_field(&pod, "metadata.name").unwrap(), "web");
        assert_eq!(
            metadata_field(&pod, "metadata.namespace").unwrap(),
            "default"
        );
        assert_eq!(metadata_field(&pod, "metadata.uid").unwrap(), "u-1");
        assert_eq!(
            metadata_field(&pod, "metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"front\""
        );
        assert_eq!(
            metadata_field(&pod, "metadata.annotations").unwrap(),
            "note=\"say \\\"hi\\\"\\n\\tback\\\\slash \\x01 é\""
        );
        assert_eq!(
            metadata_field(&pod, "metadata.labels['app']").unwrap(),
            "web"
        );
        assert_eq!(metadata_field(&pod, "metadata.labels['none']").unwrap(), "");
        assert_eq!(metadata_field(&pod, "spec.nodeName"), None);
        assert_eq!(metadata_field(&pod, "metadata.generateName['x']"), None);
    }

    #[test]
    fn resources_round_up_and_default_to_allocatable() {
        let pod = pod();
        let main = find_container(&pod, Some("main"), None).unwrap();
        let alloc = Allocatable {
            cpu_milli: 4000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 10 << 30,
        };
        let v = |resource: &str, divisor: Option<&str>| {
            let sel = ResourceFieldSelector {
                resource: resource.into(),
                divisor: divisor.map(|d| ApiQuantity(d.into())),
                container_name: None,
            };
            resource_value(main, &sel, alloc).map_err(|e| e.to_string())
        };
        assert_eq!(v("requests.cpu", None).unwrap(), "1");
        assert_eq!(v("requests.cpu", Some("1m")).unwrap(), "250");
        assert_eq!(v("limits.cpu", None).unwrap(), "4");
        assert_eq!(v("limits.memory", Some("1Mi")).unwrap(), "128");
        assert_eq!(v("requests.memory", Some("1Gi")).unwrap(), "1");
        assert_eq!(
            v("requests.ephemeral-storage", Some("1Mi")).unwrap(),
            "1024"
        );
        assert_eq!(v("limits.ephemeral-storage", Some("1Gi")).unwrap(), "10");
        assert_eq!(
            v("limits.gpu", None).unwrap_err(),
            "unsupported container resource : limits.gpu"
        );
        assert_eq!(
            find_container(&pod, Some("nope"), None)
                .unwrap_err()
                .to_string(),
            "container nope not found in the pod"
        );
        assert_eq!(
            find_container(&pod, Some("init"), None).unwrap().name,
            "init"
        );
    }
}
