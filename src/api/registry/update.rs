//! Update (PUT) and patch (PATCH), as upstream's generic `Store.Update` with
//! `rest.BeforeUpdate`: the new state is computed from the latest stored one under the
//! store's writer lock, so a patch never needs a conflict retry.

use crate::client::options::Subresource;
use serde_json::Value;

use super::{decode_incoming, key, meta, validate_change, Answer, Registry, WriteOptions, Written};
use crate::api::admission;
use crate::api::field_manager;
use crate::api::patch::{self, PatchType};
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::Mutation;

impl Registry {
    /// Replaces an object (PUT).
    pub async fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: Value,
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let (obj, warnings) = decode_incoming(rt, namespace, body, opts.field_validation)?;
        let body_name = meta::name_of(&obj);
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        // Leases and events may be created by PUT, as upstream allows for them.
        if rt.ephemeral && sub == Subresource::Main && self.lookup(rt, namespace, name).is_none() {
            let mut w = self.create(rt, namespace, obj, opts).await?;
            w.warnings.extend(warnings);
            return Ok(w);
        }
        let mut written = self
            .write_update(rt, namespace, name, sub, opts, |_| Ok(obj.clone()))
            .await?;
        written.warnings.extend(warnings);
        Ok(written)
    }

    /// Applies a patch of `patch_type` to an object (PATCH).
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let mut warnings = Vec::new();
        let mut written = self
            .write_update(rt, namespace, name, sub, opts, |current| {
                let patched = patch::apply(patch_type, rt.patch_schema, current, body)
                    .map_err(|e| e.to_api_error())?;
                let (obj, w) = decode_incoming(rt, namespace, patched, opts.field_validation)?;
                if meta::name_of(&obj) != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        meta::name_of(&obj)
                    )));
                }
                warnings = w;
                Ok(obj)
            })
            .await?;
        written.warnings.append(&mut warnings);
        Ok(written)
    }

    /// The read-modify-write every update takes: `make` turns the stored object into the
    /// requested one, then the kind's update strategy, validation and admission apply.
    pub(super) async fn write_update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        sub: Subresource,
        opts: &WriteOptions,
        mut make: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        let mut dry = None;
        let mut admitted = Vec::new();
        let requester = opts.requester.as_ref().map(|i| i.user.as_str());
        let outcome = self
            .store
            .mutate(&key(rt, namespace, name), rt.ephemeral, |current| {
                let Some(current) = current else {
                    return Err(ApiError::not_found(rt, name));
                };
                let node = opts.requester.as_ref().and_then(|u| u.node_name());
                let old = current.value();
                dry = None;
                let mut new = next_state(rt, name, sub, &old, current.revision, node, &mut make)?;
                if let (Some(new), false) = (&mut new, opts.applied) {
                    let now = meta::now();
                    let req = self.field_request(rt, opts, sub.name(), &now);
                    field_manager::track_update(Some(&old), new, &req);
                }
                // Pod Security judges what the ephemeral containers subresource adds too.
                if let (Some(new), Subresource::Main | Subresource::EphemeralContainers) =
                    (&new, sub)
                {
                    admitted =
                        admission::review(self, &self.admission, rt, new, Some(&old), requester)?;
                    let who = opts.requester.as_ref();
                    admission::rbac_escalation::review(self, rt, new, Some(&old), who)?;
                }
                if opts.dry_run {
                    dry = Some(new.unwrap_or(old));
                    return Ok(Mutation::Unchanged);
                }
                Ok(match new {
                    None => Mutation::Unchanged,
                    Some(new) if finished_deleting(rt, &new) => Mutation::Delete,
                    Some(new) => Mutation::Put(new),
                })
            })
            .await?;
        if let Some(object) = dry {
            return Ok(Written {
                object: Answer::Unstored(object),
                created: false,
                warnings: admitted,
            });
        }
        let object = match outcome.object {
            Some(o) => Answer::Stored(o),
            None => Answer::Unstored(Value::Null),
        };
        Ok(Written {
            object,
            created: false,
            warnings: admitted,
        })
    }
}

/// The state an update leads to, or `None` when nothing changes.
fn next_state(
    rt: &ResourceType,
    name: &str,
    sub: Subresource,
    old: &Value,
    revision: u64,
    node: Option<&str>,
    make: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Option<Value>, ApiError> {
    let mut new = make(old)?;
    // Optimistic concurrency: a resourceVersion in the request must be the stored one.
    match meta::meta_str(&new, "resourceVersion") {
        Some(rv) if !rv.is_empty() && rv != revision.to_string() => {
            return Err(ApiError::stale(rt, name));
        }
        _ => {}
    }
    meta::carry_on_update(&mut new, old);
    match sub {
        Subresource::Main => rt.strategy.prepare_for_update(&mut new, old),
        Subresource::Status => rt.strategy.prepare_for_status_update(&mut new, old),
        Subresource::Finalize => rt.strategy.prepare_for_finalize(&mut new, old),
        Subresource::EphemeralContainers => rt
            .strategy
            .prepare_for_ephemeral_containers_update(&mut new, old),
        Subresource::Approval => rt.strategy.prepare_for_approval_update(&mut new, old),
    }
    if rt.strategy.tracks_generation() && meta::spec_changed(&new, old) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::meta_mut(&mut new).insert("generation".into(), Value::from(generation + 1));
    }
    let errs = match sub {
        Subresource::EphemeralContainers => {
            rt.strategy.validate_ephemeral_containers_update(&new, old)
        }
        _ => validate_change(rt, &new, old),
    };
    if !errs.is_empty() {
        return Err(ApiError::invalid(rt, name, &errs));
    }
    if let Some(node) = node {
        admission::node_restriction::admit_update(node, rt, sub, &new, old)?;
    }
    Ok(meta::differs(&new, old).then_some(new))
}

/// An object marked for deletion whose last finalizer is gone and whose grace period is
/// over is removed by the update that clears it (upstream's `shouldDeleteDuringUpdate`).
fn finished_deleting(rt: &ResourceType, obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
        && meta::finalizers(obj) == 0
        && !rt.strategy.holds_deletion(obj)
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

#[cfg(test)]
#[path = "update_ephemeral_tests.rs"]
mod ephemeral_tests;
