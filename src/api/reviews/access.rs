//! `SelfSubjectAccessReview`, `SubjectAccessReview` and `LocalSubjectAccessReview`: may
//! this user do this, asked of the server's authorizer exactly as a request would be
//! (upstream's `pkg/registry/authorization`).

use serde_json::{json, Value};

use super::{Context, Review};
use crate::api::auth::{Attributes, Decision, Identity};
use crate::api::status::ApiError;
use crate::resources::FieldError;

/// The status for `who` asking about `spec`.
fn decide(cx: &Context<'_>, who: &Identity, spec: &Value) -> Value {
    let s = |pointer: &str| spec.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let attrs = if spec.get("resourceAttributes").is_some_and(Value::is_object) {
        Attributes::resource(
            s("/resourceAttributes/verb"),
            s("/resourceAttributes/group"),
            s("/resourceAttributes/resource"),
            s("/resourceAttributes/namespace"),
            s("/resourceAttributes/name"),
        )
        .with_subresource(s("/resourceAttributes/subresource"))
    } else {
        Attributes::non_resource(
            s("/nonResourceAttributes/verb"),
            s("/nonResourceAttributes/path"),
        )
    };
    match (cx.authorize)(who, &attrs) {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false}),
        Decision::Deny(reason) => json!({"allowed": false, "reason": reason}),
    }
}

/// Upstream's `ValidateSelfSubjectAccessReviewSpec`: exactly one kind of attributes.
fn attributes_errors(spec: &Value) -> Vec<FieldError> {
    let resource = spec.get("resourceAttributes").is_some_and(Value::is_object);
    let non_resource = spec
        .get("nonResourceAttributes")
        .is_some_and(Value::is_object);
    match (resource, non_resource) {
        (true, true) => vec![FieldError::invalid(
            "spec.nonResourceAttributes",
            &spec["nonResourceAttributes"],
            "cannot be specified in combination with resourceAttributes",
        )],
        (false, false) => vec![FieldError::invalid(
            "spec.resourceAttributes",
            &Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )],
        _ => Vec::new(),
    }
}

fn invalid(kind: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid_kind("authorization.k8s.io", kind, "", errs)
}

/// The status of a `SelfSubjectAccessReview`: may the asker do it.
pub fn self_subject(cx: &Context<'_>, who: &Identity, obj: &Value) -> Result<Value, ApiError> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let errs = attributes_errors(&spec);
    if !errs.is_empty() {
        return Err(invalid("SelfSubjectAccessReview", &errs));
    }
    Ok(decide(cx, who, &spec))
}

/// The status of a `SubjectAccessReview`, or of a `LocalSubjectAccessReview` in
/// `namespace`: may the user the spec names do it.
pub fn subject(
    cx: &Context<'_>,
    review: &Review,
    obj: &Value,
    namespace: Option<&str>,
) -> Result<Value, ApiError> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let mut errs = attributes_errors(&spec);
    let user = spec
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if user.is_empty() && groups.is_empty() {
        errs.push(FieldError::invalid(
            "spec.user",
            &json!(user.as_str()),
            "at least one of user or group must be specified",
        ));
    }
    if let Some(ns) = namespace {
        let asked = spec
            .pointer("/resourceAttributes/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if spec
            .get("nonResourceAttributes")
            .is_some_and(Value::is_object)
        {
            errs.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                &spec["nonResourceAttributes"],
                "disallowed on this kind of request",
            ));
        } else if !asked.is_empty() && asked != ns {
            errs.push(FieldError::invalid(
                "spec.resourceAttributes.namespace",
                &json!(asked),
                "must match metadata.namespace",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(invalid(review.kind, &errs));
    }
    let mut spec = spec;
    if let Some(ns) = namespace {
        spec["resourceAttributes"]["namespace"] = json!(ns);
    }
    // the user as given: no implied groups, as upstream's authorizer sees a review's subject
    let mut who = Identity::anonymous();
    who.user = user;
    who.groups = groups;
    who.uid = spec
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(decide(cx, &who, &spec))
}
