//! Admission on create: mutations that need other objects from the store (upstream's
//! admission plugins), run by the registry on every create whatever the client.

pub mod default_storage_class;
pub mod recycle_warning;
pub mod storage_protection;

use serde_json::Value;

use crate::api::registry::Registry;
use crate::api::status::ApiError;
use crate::resources::ResourceType;

/// Runs every create-time admission step for `rt` on `obj`; returns warnings for the client.
pub fn admit_create(
    registry: &Registry,
    rt: &ResourceType,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    default_storage_class::admit(registry, rt, obj)?;
    storage_protection::admit(rt, obj);
    Ok(recycle_warning::warnings(rt, obj))
}
