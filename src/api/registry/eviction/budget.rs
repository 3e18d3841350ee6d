//! The budget side of an eviction: upstream's `checkAndDecrement` and
//! `UpdateDisruptionAllowedCondition` on a PodDisruptionBudget's JSON, and the 429 answers
//! that tell a client (kubectl drain) to try again later.

use serde_json::{json, Value};

use super::{MAX_DISRUPTED_PODS, REFUSED};
use crate::api::registry::meta;
use crate::api::status::{ApiError, Cause};
use crate::resources::ResourceType;

/// 429 while the disruption controller has not caught up with the budget's spec.
pub(super) fn still_processing(budget: &str) -> ApiError {
    let mut e = ApiError::new(429, "TooManyRequests", REFUSED);
    e.details.retry_after_seconds = Some(10);
    e.details.causes.push(Cause {
        reason: "DisruptionBudget".into(),
        message: format!("The disruption budget {budget} is still being processed by the server."),
        field: String::new(),
    });
    e
}

/// Upstream `checkAndDecrement` on a budget read at `revision`: the budget with one
/// disruption fewer allowed and `pod` recorded, ready to write as its status.
pub(super) fn decremented(
    rt: &ResourceType,
    pdb: &Value,
    revision: u64,
    pod: &str,
) -> Result<Value, ApiError> {
    let name = meta::name_of(pdb).to_string();
    let int = |p: &str| pdb.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if int("/status/observedGeneration") < int("/metadata/generation") {
        return Err(still_processing(&name));
    }
    let allowed = int("/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(ApiError::forbidden_on(
            rt,
            &name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(ApiError::forbidden_on(
            rt,
            &name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        let mut e = ApiError::new(429, "TooManyRequests", REFUSED);
        e.details.causes.push(Cause {
            reason: "DisruptionBudget".into(),
            message: format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                int("/status/desiredHealthy"),
                int("/status/currentHealthy")
            ),
            field: String::new(),
        });
        return Err(e);
    }
    let mut next = pdb.clone();
    let status = &mut next["status"];
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed == 1 {
        set_insufficient_pods(status);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod] = json!(meta::now());
    meta::meta_mut(&mut next).insert("resourceVersion".into(), json!(revision.to_string()));
    Ok(next)
}

/// Upstream `UpdateDisruptionAllowedCondition` once no disruption is left.
fn set_insufficient_pods(status: &mut Value) {
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    let condition = json!({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
        "message": "", "observedGeneration": observed, "lastTransitionTime": meta::now()});
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    if let Some(list) = status["conditions"].as_array_mut() {
        match list.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
            Some(c) if c["status"] == "False" => {
                c["reason"] = condition["reason"].clone();
                c["observedGeneration"] = condition["observedGeneration"].clone();
            }
            Some(c) => *c = condition,
            None => list.push(condition),
        }
    }
}
