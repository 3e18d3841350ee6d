//! The `pods/eviction` subresource: upstream's `EvictionREST.Create`
//! (`pkg/registry/core/pod/storage/eviction.go`). A pod that is not running yet, already
//! finished or already being deleted is deleted at once. Otherwise the one
//! PodDisruptionBudget selecting it (more than one is a 500) must allow a disruption: its
//! `status.disruptionsAllowed` is decremented, the pod recorded in `status.disruptedPods`
//! (written with a resourceVersion precondition, retried on conflict), and only then is the
//! pod marked `DisruptionTarget` and deleted with the eviction's `deleteOptions`. A budget
//! that allows none answers 429 with upstream's message and `DisruptionBudget` cause.

use serde_json::{json, Value};

mod budget;

use budget::{decremented, still_processing};

use super::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;
use crate::resources::{pod, poddisruptionbudget};
use crate::store::Object;

/// Upstream `EvictionsRetry`: attempts at a write that conflicted with another writer.
const RETRIES: usize = 20;
/// Upstream `MaxDisruptedPodSize`: evictions the disruption controller has not yet seen.
const MAX_DISRUPTED_PODS: usize = 2000;
/// Upstream's message for a refused eviction.
const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";
/// The message of the 500 answer for a pod under several budgets.
const SEVERAL_BUDGETS: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// What an eviction answered, when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Evicted {
    /// The pod was deleted (or marked for graceful deletion).
    Deleted,
    /// The eviction was not attempted; upstream returns this `Status` as the answer (500).
    Refused(Value),
}

impl Registry {
    /// Evicts pod `namespace/name` as the `Eviction` in `body` asks.
    pub async fn evict(
        &self,
        namespace: &str,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Evicted, ApiError> {
        let rt = &pod::RESOURCE;
        let mut delete = eviction_options(namespace, name, &body, opts)?;
        let dry_run = delete.dry_run.iter().any(|d| d == "All");
        let caller_rv = delete
            .preconditions
            .as_ref()
            .and_then(|p| p.resource_version.clone())
            .filter(|rv| !rv.is_empty());
        let node = opts.requester.as_ref().and_then(|u| u.node_name());
        delete.requester = None;
        // Pods the budgets need not guard go at once (retried on conflicts the caller did
        // not ask for).
        let mut attempt = 0;
        let pod = loop {
            attempt += 1;
            let pod = self
                .lookup(rt, namespace, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            let value = pod.value();
            if let Some(node) = node {
                if value.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
                    return Err(ApiError::forbidden_on(
                        rt,
                        name,
                        &format!(
                            "node {node:?} can only evict pods with spec.nodeName set to itself"
                        ),
                    ));
                }
            }
            if !can_ignore_budget(&value) {
                break pod;
            }
            let mut options = delete.clone();
            if enforce_resource_version(&value) && caller_rv.is_none() {
                set_resource_version(&mut options, pod.revision);
            }
            match self
                .mark_and_delete(namespace, name, options, dry_run)
                .await
            {
                Err(e) if e.code == 409 && caller_rv.is_none() && attempt < RETRIES => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(Evicted::Deleted),
            }
        };
        let value = pod.value();
        let budgets = self.budgets_selecting(namespace, &value);
        if budgets.len() > 1 {
            return Ok(Evicted::Refused(
                json!({"kind": "Status", "apiVersion": "v1",
                "metadata": {}, "status": "Failure", "message": SEVERAL_BUDGETS, "code": 500}),
            ));
        }
        let mut pinned = false;
        if let Some(budget) = budgets.first() {
            let b = budget.value();
            let status = |k: &str| {
                b.pointer(&format!("/status/{k}"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            // An unready pod does not count as healthy: deleting it disrupts nothing while
            // the budget is met (or the budget says unhealthy pods may always go).
            let always = b
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str)
                == Some("AlwaysAllow");
            let met = status("currentHealthy") >= status("desiredHealthy")
                && status("desiredHealthy") > 0;
            if !pod_ready(&value) && (always || met) {
                pinned = true;
            } else {
                let budget_name = crate::api::registry::meta::name_of(&b).to_string();
                self.take_disruption(namespace, &budget_name, name, dry_run)
                    .await?;
            }
        }
        let mut options = delete;
        if pinned {
            // The pod must still be the unready one judged above.
            set_resource_version(&mut options, pod.revision);
        }
        match self
            .mark_and_delete(namespace, name, options, dry_run)
            .await
        {
            Err(e) if e.code == 409 && pinned && caller_rv.is_none() => {
                let budget = budgets
                    .first()
                    .map(|b| crate::api::registry::meta::name_of(&b.value()).to_string());
                Err(still_processing(budget.as_deref().unwrap_or("")))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(Evicted::Deleted),
        }
    }

    /// The budgets in `namespace` whose (valid, non-empty) selector selects `pod`.
    fn budgets_selecting(&self, namespace: &str, pod: &Value) -> Vec<std::sync::Arc<Object>> {
        let rt = &poddisruptionbudget::RESOURCE;
        let empty = serde_json::Map::new();
        let labels = pod
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let (all, _) = self.store().list(&super::list::prefix(rt, Some(namespace)));
        all.into_iter()
            .filter(|b| {
                let v = b.value();
                let selector = v.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
                // An empty selector must match nothing here, not everything.
                LabelSelector::from_label_selector(&selector)
                    .is_ok_and(|s| !s.is_empty() && s.matches(labels))
            })
            .collect()
    }

    /// Upstream `checkAndDecrement`, retried while another writer changes the budget.
    async fn take_disruption(
        &self,
        namespace: &str,
        budget: &str,
        pod: &str,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let rt = &poddisruptionbudget::RESOURCE;
        for _ in 0..RETRIES {
            let current = self
                .lookup(rt, namespace, budget)
                .ok_or_else(|| ApiError::not_found(rt, budget))?;
            let next = decremented(rt, &current.value(), current.revision, pod)?;
            if dry_run {
                return Ok(());
            }
            let server = WriteOptions::default();
            match self
                .update(rt, namespace, budget, next, Subresource::Status, &server)
                .await
            {
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(()),
            }
        }
        Err(ApiError::new(
            504,
            "Timeout",
            format!("Timeout: couldn't update PodDisruptionBudget \"{budget}\" due to conflicts"),
        ))
    }

    /// Upstream `addConditionAndDeletePod`: the pod is marked `DisruptionTarget` (checked
    /// against the delete's preconditions), then deleted.
    async fn mark_and_delete(
        &self,
        namespace: &str,
        name: &str,
        mut options: DeleteOptions,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let rt = &pod::RESOURCE;
        if !dry_run {
            let latest = self
                .lookup(rt, namespace, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            let mut value = latest.value();
            if let Some(p) = &options.preconditions {
                let uid = crate::api::registry::meta::meta_str(&value, "uid").unwrap_or("");
                if p.uid.as_deref().is_some_and(|u| !u.is_empty() && u != uid) {
                    return Err(ApiError::conflict(
                        rt,
                        name,
                        &format!(
                        "Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                        p.uid.as_deref().unwrap_or("")
                    ),
                    ));
                }
                let rv = p.resource_version.as_deref().unwrap_or("");
                if !rv.is_empty() && rv != latest.revision.to_string() {
                    return Err(ApiError::conflict(rt, name, &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        latest.revision
                    )));
                }
            }
            set_disruption_target(&mut value);
            crate::api::registry::meta::meta_mut(&mut value)
                .insert("resourceVersion".into(), json!(latest.revision.to_string()));
            let server = WriteOptions::default();
            let written = self
                .update(rt, namespace, name, value, Subresource::Status, &server)
                .await?;
            let revision: Option<u64> = written
                .object
                .into_value()
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse().ok());
            // The condition is this eviction's own write: a resourceVersion precondition
            // moves past it.
            if let (Some(p), Some(rev)) = (options.preconditions.as_mut(), revision) {
                if p.resource_version
                    .as_deref()
                    .is_some_and(|rv| !rv.is_empty())
                {
                    p.resource_version = Some(rev.to_string());
                }
            }
        }
        self.delete(rt, namespace, name, &options).await.map(|_| ())
    }
}

/// The eviction's delete options, after upstream's checks of the body against the request.
fn eviction_options(
    namespace: &str,
    name: &str,
    body: &Value,
    opts: &WriteOptions,
) -> Result<DeleteOptions, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    match body.get("kind").and_then(Value::as_str) {
        None | Some("Eviction") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "not a Eviction object: {other}"
            )))
        }
    }
    let meta = |k: &str| {
        body.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
    };
    if meta("name").unwrap_or("") != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    if meta("namespace").is_some_and(|ns| !ns.is_empty() && ns != namespace) {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut delete: DeleteOptions = match body.get("deleteOptions").filter(|d| !d.is_null()) {
        Some(d) => serde_json::from_value(d.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?,
        None => DeleteOptions::default(),
    };
    // Upstream `propagateDryRun`: the request's dryRun and the options' must agree.
    let options_dry = delete.dry_run.iter().any(|d| d == "All");
    match (opts.dry_run, delete.dry_run.is_empty()) {
        (true, true) => delete.dry_run = vec!["All".into()],
        (true, false) | (false, false) if opts.dry_run != options_dry => {
            return Err(ApiError::bad_request(
                "The eviction dryRun field does not match the request dryRun field",
            ))
        }
        _ => {}
    }
    Ok(delete)
}

/// Upstream `canIgnorePDB`: finished, not yet running, or already going.
fn can_ignore_budget(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    matches!(phase, Some("Succeeded" | "Failed" | "Pending"))
        || pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
}

/// Upstream `shouldEnforceResourceVersion`: a pod that might still become ready.
fn enforce_resource_version(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    !matches!(phase, Some("Succeeded" | "Failed"))
        && pod
            .pointer("/metadata/deletionTimestamp")
            .map_or(true, Value::is_null)
}

fn set_resource_version(options: &mut DeleteOptions, revision: u64) {
    options
        .preconditions
        .get_or_insert_with(Default::default)
        .resource_version = Some(revision.to_string());
}

/// Upstream `IsPodReady`: the `Ready` condition is `True`.
fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Upstream `UpdatePodCondition` with the eviction's `DisruptionTarget` condition.
fn set_disruption_target(pod: &mut Value) {
    let now = crate::api::registry::meta::now();
    let condition = json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": now, "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"});
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c["type"] == "DisruptionTarget") {
            Some(c) if c["status"] == "True" => {
                c["reason"] = condition["reason"].clone();
                c["message"] = condition["message"].clone();
            }
            Some(c) => *c = condition,
            None => list.push(condition),
        }
    }
}

#[cfg(test)]
mod tests;
