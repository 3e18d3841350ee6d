//! Admission: the checks kube-apiserver's admission plugins make on a write after the kind's
//! own validation and before anything is stored, one plugin per file.

pub mod host_path;

use serde_json::Value;

use super::status::ApiError;
use crate::host_path_policy::HostPathPolicy;
use crate::resources::ResourceType;

/// Settings of the admission plugins.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Which host paths pods and PersistentVolumes may use.
    pub host_path: HostPathPolicy,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            host_path: HostPathPolicy::allow_all(),
        }
    }
}

/// Runs the validating plugins on an object about to be created.
pub fn validate_create(
    cfg: &AdmissionConfig,
    rt: &ResourceType,
    obj: &Value,
) -> Result<(), ApiError> {
    host_path::validate_create(&cfg.host_path, rt, obj)
}
