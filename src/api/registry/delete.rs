//! Delete, as upstream's generic `Store.Delete`: preconditions, finalizers (the object stays,
//! marked with `deletionTimestamp`, until its finalizers are removed) and graceful deletion
//! (a pod on a node with a live kubelet stays until that kubelet has stopped it).

use crate::client::options::{DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use chrono::Utc;
use serde_json::Value;

use super::{key, meta, Registry};
use crate::api::status::ApiError;
use crate::resources::{self, seconds, FieldError, ResourceType};
use crate::store::Mutation;

/// Outcome of a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object: its last state, or its state marked for deletion.
    pub object: Value,
    /// Whether it is gone (false: waiting for finalizers or a kubelet).
    pub gone: bool,
}

impl Registry {
    /// Deletes (or marks for deletion) one object.
    pub async fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let cached = self
            .lookup(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let cached = cached.value();
        let grace = rt.strategy.grace_period(&cached, opts.grace_period_seconds);
        // Graceful only when someone will finish it: a kubelet that renews its lease.
        let graceful = grace > 0
            && rt
                .strategy
                .node_of(&cached)
                .is_some_and(|n| self.kubelet_alive(&n));
        let dry_run = opts.dry_run.iter().any(|d| d == "All");
        let policy = propagation(opts)?;
        let mut gone = false;
        let mut dry = None;
        let out = self
            .store
            .mutate(&key(rt, namespace, name), rt.ephemeral, |current| {
                (gone, dry) = (false, None);
                let Some(current) = current else {
                    return Err(ApiError::not_found(rt, name));
                };
                let value = current.value();
                check_preconditions(rt, name, &value, current.revision, opts)?;
                if let Some(node) = opts.requester.as_ref().and_then(|u| u.node_name()) {
                    crate::api::admission::node_restriction::admit_delete(node, rt, &value)?;
                }
                let mut obj = value.clone();
                let already = obj.pointer("/metadata/deletionTimestamp").is_some();
                gc_finalizers(&mut obj, policy);
                let mutation = if meta::finalizers(&obj) > 0 || rt.strategy.holds_deletion(&obj) {
                    if already {
                        Mutation::Unchanged
                    } else {
                        let m = meta::meta_mut(&mut obj);
                        m.insert("deletionTimestamp".into(), Value::String(meta::now()));
                        m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
                        rt.strategy.mark_deleting(&mut obj);
                        Mutation::Put(obj)
                    }
                } else if graceful {
                    let current_grace = obj
                        .pointer("/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64);
                    if already && current_grace.is_some_and(|g| g <= grace) {
                        Mutation::Unchanged
                    } else {
                        let at =
                            seconds::wall_after(Utc::now(), grace).format("%Y-%m-%dT%H:%M:%SZ");
                        let m = meta::meta_mut(&mut obj);
                        m.insert("deletionTimestamp".into(), Value::String(at.to_string()));
                        m.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
                        Mutation::Put(obj)
                    }
                } else {
                    gone = true;
                    Mutation::Delete
                };
                if dry_run {
                    dry = Some(value);
                    return Ok(Mutation::Unchanged);
                }
                Ok(mutation)
            })
            .await?;
        if let Some(object) = dry {
            return Ok(Deleted { object, gone });
        }
        let object = out.object.map(|o| o.value()).unwrap_or_default();
        Ok(Deleted { object, gone })
    }

    /// Whether `node`'s kubelet holds a current lease in `kube-node-lease`.
    pub fn kubelet_alive(&self, node: &str) -> bool {
        let Some(lease) = self.lookup(&resources::lease::RESOURCE, "kube-node-lease", node) else {
            return false;
        };
        let lease = lease.value();
        let spec = &lease["spec"];
        let renewed = spec["renewTime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let duration = spec["leaseDurationSeconds"].as_i64().unwrap_or(40);
        renewed.is_some_and(|t| seconds::wall_after(t.with_timezone(&Utc), duration) > Utc::now())
    }
}

/// The propagation policy asked for, checked as upstream's `ValidateDeleteOptions`.
fn propagation(opts: &DeleteOptions) -> Result<Option<&'static str>, ApiError> {
    let policy = match opts.propagation_policy.as_deref() {
        None => None,
        Some("Orphan") => Some("Orphan"),
        Some("Background") => Some("Background"),
        Some("Foreground") => Some("Foreground"),
        Some(other) => {
            let err = FieldError::not_supported(
                "propagationPolicy",
                &Value::from(other),
                &["Foreground", "Background", "Orphan", "nil"],
            );
            return Err(ApiError::invalid_kind(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &[err],
            ));
        }
    };
    match (opts.orphan_dependents, policy) {
        (Some(_), Some(_)) => {
            let err = FieldError::invalid(
                "propagationPolicy",
                &Value::from("OrphanDependents"),
                "OrphanDependents and DeletionPropagation cannot be both set",
            );
            Err(ApiError::invalid_kind(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &[err],
            ))
        }
        (Some(true), None) => Ok(Some("Orphan")),
        (Some(false), None) => Ok(Some("Background")),
        (None, p) => Ok(p),
    }
}

/// Sets the garbage collector's finalizers for `policy` (upstream's
/// `deletionFinalizersForGarbageCollection`): Orphan and Foreground each add theirs and drop
/// the other's, Background drops both; no policy leaves them as they are.
fn gc_finalizers(obj: &mut Value, policy: Option<&str>) {
    let Some(policy) = policy else { return };
    let m = meta::meta_mut(obj);
    let mut finalizers: Vec<Value> = m
        .get("finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER);
    match policy {
        "Orphan" => finalizers.push(Value::from(ORPHAN_FINALIZER)),
        "Foreground" => finalizers.push(Value::from(FOREGROUND_FINALIZER)),
        _ => {}
    }
    if finalizers.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
}

fn check_preconditions(
    rt: &ResourceType,
    name: &str,
    obj: &Value,
    revision: u64,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    let Some(p) = &opts.preconditions else {
        return Ok(());
    };
    if let Some(uid) = p.uid.as_deref() {
        let have = meta::meta_str(obj, "uid").unwrap_or("");
        if uid != have {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                ),
            ));
        }
    }
    if let Some(rv) = p.resource_version.as_deref() {
        if rv != revision.to_string() {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {revision}"
                ),
            ));
        }
    }
    Ok(())
}
