//! A ReplicaSet's status, as upstream's `calculateStatus`: how many active pods it controls,
//! how many carry the template's labels, are ready, and have been ready for
//! `minReadySeconds`, the generation it has seen, and the `ReplicaFailure` condition while
//! pods cannot be created or deleted. Written only when it changed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::Replicated;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pods;
use crate::controllers::status_patch::patch_status;
use crate::controllers::Action;

/// Writes the status `active` gives `set`; asks to look again when a ready pod becomes
/// available only after `minReadySeconds`.
pub(super) async fn update<C: Client, K: Replicated>(
    client: &C,
    set: &K,
    active: &[Arc<Pod>],
    failure: Option<&ApiError>,
) -> Result<Action, ApiError> {
    let min_ready = set.min_ready_seconds();
    let template_labels = set
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let now = Utc::now();
    let count = |f: &dyn Fn(&Pod) -> bool| -> i32 {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let replicas = count(&|_| true);
    let labeled = count(&|p| {
        let labels = p.metadata.labels.as_ref();
        template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    });
    let ready = count(&pods::is_ready);
    let available = count(&|p| pods::is_available(p, min_ready, now));
    let current = set.status_value();
    let old_conditions = current
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_failure = |c: &&Value| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure");
    let mut conditions: Vec<Value> = old_conditions
        .iter()
        .filter(|c| !is_failure(c))
        .cloned()
        .collect();
    if let Some(e) = failure {
        let kept = old_conditions
            .iter()
            .filter(is_failure)
            .find(|c| c.get("message").and_then(Value::as_str) == Some(e.message.as_str()));
        conditions.push(match kept {
            Some(c) => c.clone(),
            None => json!({
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": e.message,
                "lastTransitionTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        });
    }
    let status = json!({
        "replicas": replicas,
        "fullyLabeledReplicas": labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": set.metadata().generation,
        "conditions": conditions,
    });
    let same = [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .all(|f| current.get(*f).unwrap_or(&json!(0)) == status.get(*f).unwrap_or(&json!(0)))
        && current.get("conditions").cloned().unwrap_or(json!([])) == status["conditions"];
    if !same && !patch_status(client, set, status).await? {
        return Ok(Action::Done);
    }
    // A ready pod not yet available becomes so after minReadySeconds: look again then.
    if min_ready > 0 && ready > available {
        return Ok(Action::RequeueAfter(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(0),
        )));
    }
    Ok(Action::Done)
}
