//! How the built-in runtime applies a container's seccomp filter: youki's libcontainer
//! installs filters only through the libseccomp C library (left out so static musl builds
//! stay pure Rust), so the filter is compiled by [`bpf`] and installed from libcontainer's
//! `Executor` hook, in the container's init right before `execve`, as runc does "as close
//! to exec as possible".
//!
//! Installing a filter needs `no_new_privs` or `CAP_SYS_ADMIN`, and the hook runs after
//! libcontainer has dropped capabilities. A container without `no_new_privs` (the
//! Kubernetes default) therefore keeps `CAP_SYS_ADMIN` in its effective and permitted sets
//! until the filter is in ([`prepare_bundle`] adds it there, never to the bounding set);
//! the hook then drops every effective or permitted capability outside the bounding set.
//! `execve` could not have kept it anyway: the kernel bounds the new permitted set by the
//! bounding set and the (empty) inheritable and ambient sets.

use std::collections::HashMap;
use std::path::Path;

use caps::CapSet;
use libcontainer::workload::default::get_executor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::{Capability, LinuxSeccomp, Spec};

use super::seccomp::bpf;
use super::{Result, RuntimeError};

/// libcontainer's default executor behind the container's seccomp filter. The filter is
/// carried here rather than read from the spec the hook is given: for an exec (a "tenant"
/// process) libcontainer hands the hook a spec without `linux.seccomp`.
#[derive(Clone)]
pub struct SeccompExecutor {
    filter: Option<LinuxSeccomp>,
}

impl SeccompExecutor {
    /// The executor for the container whose config is `bundle/config.json`.
    pub fn for_bundle(bundle: &Path) -> Result<SeccompExecutor> {
        let config = read_config(&bundle.join("config.json"))?;
        let filter = match config["linux"].get("seccomp") {
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| RuntimeError::Spec(format!("linux.seccomp: {e}")))?,
            ),
            None => None,
        };
        Ok(SeccompExecutor { filter })
    }

    /// Whether a filter is installed before exec.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }
}

fn read_config(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read(path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&text).map_err(|e| RuntimeError::Spec(e.to_string()))
}

/// Drops effective and permitted capabilities outside the bounding set.
fn drop_transient() -> std::result::Result<(), String> {
    let bounding = caps::read(None, CapSet::Bounding).map_err(|e| e.to_string())?;
    for set in [CapSet::Effective, CapSet::Permitted] {
        let current = caps::read(None, set).map_err(|e| e.to_string())?;
        let keep = current.intersection(&bounding).copied().collect();
        caps::set(None, set, &keep).map_err(|e| format!("dropping capabilities: {e}"))?;
    }
    Ok(())
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(s) = &self.filter {
            let program = bpf::compile(s).map_err(|e| ExecutorError::Other(e.to_string()))?;
            bpf::install(s, &program).map_err(|e| ExecutorError::Other(e.to_string()))?;
            drop_transient().map_err(ExecutorError::Other)?;
        }
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        if let Some(s) = &self.filter {
            bpf::check(s)
                .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))?;
        }
        get_executor().validate(spec)
    }

    fn setup_envs(
        &self,
        envs: HashMap<String, String>,
    ) -> std::result::Result<(), ExecutorSetEnvsError> {
        get_executor().setup_envs(envs)
    }
}

/// Adds `CAP_SYS_ADMIN` to a `process` object's effective and permitted sets when it has a
/// seccomp filter to install and no `no_new_privs` (see the module docs). Returns whether
/// it changed anything.
pub fn add_transient_admin(process: &mut serde_json::Value, has_filter: bool) -> bool {
    let nnp = process["noNewPrivileges"].as_bool().unwrap_or(false);
    if !has_filter || nnp {
        return false;
    }
    let admin = serde_json::Value::from(format!("CAP_{}", Capability::SysAdmin));
    let mut changed = false;
    for set in ["effective", "permitted"] {
        let list = &mut process["capabilities"][set];
        if !list.is_array() {
            *list = serde_json::json!([]);
        }
        if let Some(list) = list.as_array_mut() {
            if !list.contains(&admin) {
                list.push(admin.clone());
                changed = true;
            }
        }
    }
    changed
}

/// Rewrites `bundle/config.json` for [`add_transient_admin`] before libcontainer reads it.
pub fn prepare_bundle(bundle: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    let mut config = read_config(&path)?;
    let has_filter = config["linux"]["seccomp"].is_object();
    if add_transient_admin(&mut config["process"], has_filter) {
        let json =
            serde_json::to_vec_pretty(&config).map_err(|e| RuntimeError::Spec(e.to_string()))?;
        std::fs::write(&path, json)
            .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// The same for an exec's `process` file.
pub fn prepare_process(process_file: &Path, has_filter: bool) -> Result<()> {
    let mut process = read_config(process_file)?;
    if add_transient_admin(&mut process, has_filter) {
        let json = serde_json::to_vec(&process).map_err(|e| RuntimeError::Spec(e.to_string()))?;
        std::fs::write(process_file, json)
            .map_err(|e| RuntimeError::io(format!("writing {}", process_file.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_added_only_for_a_filter_without_no_new_privs() {
        let mut p = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL"],
            "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}});
        assert!(!add_transient_admin(&mut p.clone(), false));
        assert!(add_transient_admin(&mut p, true));
        assert_eq!(
            p["capabilities"]["effective"],
            serde_json::json!(["CAP_KILL", "CAP_SYS_ADMIN"])
        );
        assert_eq!(
            p["capabilities"]["bounding"],
            serde_json::json!(["CAP_KILL"])
        );
        assert!(!add_transient_admin(&mut p, true), "idempotent");
        let mut nnp = serde_json::json!({"noNewPrivileges": true, "capabilities": {}});
        assert!(!add_transient_admin(&mut nnp, true));
    }
}
