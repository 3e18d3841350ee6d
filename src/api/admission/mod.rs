//! Admission: what kube-apiserver's admission plugins do on a write after the kind's own
//! validation and before anything is stored, one plugin per file. Mutating plugins may read
//! other objects from the store; validating plugins answer with a `Status` and store nothing.
//! Creates pass every plugin; updates of the main resource and of a pod's ephemeral
//! containers pass Pod Security, and writes by a node pass NodeRestriction, which needs the
//! object being replaced.

pub mod csr_requester;
pub mod default_storage_class;
pub mod default_toleration_seconds;
pub mod host_path;
pub mod node_restriction;
pub mod pod_security;
pub mod rbac_escalation;
pub mod recycle_warning;
pub mod service_account;
pub mod storage_protection;

use serde_json::Value;

use crate::api::registry::Registry;
use crate::api::status::ApiError;
use crate::host_path_policy::HostPathPolicy;
use crate::resources::ResourceType;

/// Settings of the admission plugins.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Which host paths pods and PersistentVolumes may use.
    pub host_path: HostPathPolicy,
    /// Pod Security Admission's defaults and exemptions.
    pub pod_security: pod_security::PodSecurityConfig,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            host_path: HostPathPolicy::allow_all(),
            pod_security: pod_security::PodSecurityConfig::default(),
        }
    }
}

/// Runs the mutating create-time plugins for `rt` on `obj`; returns warnings for the client.
pub async fn admit_create(
    registry: &Registry,
    rt: &ResourceType,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    default_storage_class::admit(registry, rt, obj)?;
    default_toleration_seconds::admit(rt, obj);
    service_account::admit(registry, rt, obj).await?;
    storage_protection::admit(rt, obj);
    Ok(recycle_warning::warnings(rt, obj))
}

/// Runs the validating plugins on an object about to be created.
pub fn validate_create(
    cfg: &AdmissionConfig,
    rt: &ResourceType,
    obj: &Value,
) -> Result<(), ApiError> {
    host_path::validate_create(&cfg.host_path, rt, obj)
}

/// Runs the validating plugins that read other objects on an object about to be created
/// (`old` is `None`) or replaced through its main resource; returns warnings for the client.
pub fn review(
    registry: &Registry,
    cfg: &AdmissionConfig,
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
    user: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    pod_security::review(registry, &cfg.pod_security, rt, obj, old, user)
}
