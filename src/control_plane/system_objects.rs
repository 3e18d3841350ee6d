//! Objects the server keeps in every cluster: created when absent, or brought back to what
//! the server wants at each start. A failure names the object (`service default/kubernetes`).

use serde_json::Value;

use super::ServerError;
use crate::api::patch::PatchType;
use crate::api::registry::{Registry, Subresource, WriteOptions};
use crate::api::status::ApiError;
use crate::resources::ResourceType;

/// The error for `namespace/name` of `rt`: `configmap kube-system/bramble-cluster`.
fn bootstrap_error(
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    source: ApiError,
) -> ServerError {
    let object = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    };
    ServerError::Bootstrap {
        what: format!("{} {object}", rt.kind.to_lowercase()),
        source,
    }
}

/// Creates `obj` as `namespace/name` unless an object is there (whatever it holds).
pub(super) async fn create_unless_present(
    registry: &Registry,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    obj: Value,
) -> Result<(), ServerError> {
    if registry.get(rt, namespace, name).is_ok() {
        return Ok(());
    }
    registry
        .create(rt, namespace, obj, &WriteOptions::default())
        .await
        .map(drop)
        .map_err(|e| bootstrap_error(rt, namespace, name, e))
}

/// Creates `obj` as `namespace/name`, or merges `fields` of it into the object there when
/// they differ.
pub(super) async fn upsert(
    registry: &Registry,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    obj: Value,
    fields: &[&str],
) -> Result<(), ServerError> {
    let result = match registry.get(rt, namespace, name) {
        Err(_) => {
            registry
                .create(rt, namespace, obj, &WriteOptions::default())
                .await
        }
        Ok(current) if fields.iter().all(|f| current[*f] == obj[*f]) => return Ok(()),
        Ok(_) => {
            let patch: serde_json::Map<String, Value> = fields
                .iter()
                .map(|f| (f.to_string(), obj[*f].clone()))
                .collect();
            registry
                .patch(
                    rt,
                    namespace,
                    name,
                    PatchType::Merge,
                    &serde_json::to_vec(&patch).unwrap_or_default(),
                    Subresource::Main,
                    &WriteOptions::default(),
                )
                .await
        }
    };
    result
        .map(drop)
        .map_err(|e| bootstrap_error(rt, namespace, name, e))
}
