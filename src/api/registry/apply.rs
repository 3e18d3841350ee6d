//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the request is the
//! manager's applied configuration; the field manager merges it into the stored object
//! (creating the object when there is none) and works out its managed fields, then the
//! write takes the path every create or update takes.

use serde_json::{json, Value};

use super::{decode_incoming, meta, FieldValidation, Registry, WriteOptions, Written};
use crate::api::field_manager::{self, Conflict};
use crate::api::status::ApiError;
use crate::client::options::Subresource;
use crate::resources::{FieldError, ResourceType};

/// kubectl's client-side apply annotation, kept in step by kubectl's server-side applies
/// (upstream's `lastAppliedUpdater`) so a later client-side apply sees what was applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The manager whose applies keep that annotation.
const KUBECTL: &str = "kubectl";

impl Registry {
    /// Applies `body` (YAML or JSON) to `namespace/name` as `opts.field_manager`.
    pub async fn apply(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.apply_to(rt, namespace, name, body, Subresource::Main, opts)
            .await
    }

    /// Applies `body` through `sub`: the object itself (created when absent) or the
    /// `status` of an existing one, whose fields are then recorded as the manager's on
    /// `status`.
    pub async fn apply_to(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let config = crate::api::request_body::decode(Some("application/yaml"), body)?;
        if config.get("apiVersion").and_then(Value::as_str).is_none()
            || config.get("kind").and_then(Value::as_str).is_none()
        {
            return Err(ApiError::bad_request(
                "error decoding YAML: Object 'Kind' is missing (apiVersion and kind are required in an applied configuration)",
            ));
        }
        // unknown fields cannot be tracked: an applied configuration must know them all
        let (mut config, _) = decode_incoming(rt, namespace, config, FieldValidation::Strict)?;
        // A configuration may leave the name to the URL (kube-rs status applies do).
        if meta::name_of(&config).is_empty() {
            meta::meta_mut(&mut config).insert("name".into(), json!(name));
        }
        let named = meta::name_of(&config);
        if named != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({named}) does not match the name on the URL ({name})"
            )));
        }
        let applied = WriteOptions {
            applied: true,
            ..opts.clone()
        };
        let now = meta::now();
        let req = self.field_request(rt, opts, sub.name(), &now);
        if self.lookup(rt, namespace, name).is_none() {
            if sub != Subresource::Main {
                return Err(ApiError::not_found(rt, name));
            }
            let created = field_manager::apply(None, &config, &req, opts.force)
                .map_err(|c| conflict_error(&c))?;
            return self.create(rt, namespace, created, &applied).await;
        }
        self.write_update(rt, namespace, name, sub, &applied, |current| {
            let mut merged = match field_manager::apply(Some(current), &config, &req, opts.force) {
                Ok(merged) => merged,
                Err(conflicts) => {
                    // kubectl's first server-side apply of an object a client-side
                    // apply made may take the fields that apply recorded
                    let migrating = opts.manager() == KUBECTL
                        && last_applied(current).is_some_and(|last| {
                            field_manager::within_last_applied(&conflicts, &last, &req)
                        });
                    if !migrating {
                        return Err(conflict_error(&conflicts));
                    }
                    field_manager::apply(Some(current), &config, &req, true)
                        .map_err(|c| conflict_error(&c))?
                }
            };
            if opts.manager() == KUBECTL {
                keep_last_applied(current, &config, &mut merged);
            }
            Ok(merged)
        })
        .await
    }
}

/// The 409 for apply conflicts, as upstream's `NewApplyConflict`: one cause per field.
fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    ApiError::apply_conflict(
        field_manager::conflict_message(conflicts),
        conflicts
            .iter()
            .map(|c| (format!("conflict with {}", c.manager), c.field.clone()))
            .collect(),
    )
}

/// The configuration a client-side apply recorded on `live`, if any.
fn last_applied(live: &Value) -> Option<Value> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// Rewrites the client-side apply annotation to the applied configuration when the live
/// object has one.
fn keep_last_applied(live: &Value, config: &Value, merged: &mut Value) {
    let had = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    if !had {
        return;
    }
    let mut recorded = config.clone();
    if let Some(a) = recorded
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
    }
    if let Some(a) = merged
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED.into(), json!(recorded.to_string()));
    }
}

/// The 422 for bad write options, as upstream's `ValidatePatchOptions` and
/// `ValidateFieldManager` answer (kind `PatchOptions`, `CreateOptions` or `UpdateOptions`).
pub fn invalid_options(kind: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid_kind("meta.k8s.io", kind, "", errs)
}

#[cfg(test)]
mod tests;
