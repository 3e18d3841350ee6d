//! API errors as `meta/v1 Status` objects with upstream's codes, reasons, messages and
//! causes (k8s.io/apimachinery/pkg/api/errors), so clients that branch on them behave as they
//! do against kube-apiserver.

use serde_json::{json, Value};

use crate::resources::{FieldError, ResourceType};
use crate::store::StoreError;

/// One `details.causes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Upstream cause type, e.g. `FieldValueRequired`.
    pub reason: String,
    /// Human text.
    pub message: String,
    /// Field path.
    pub field: String,
}

/// An API error: HTTP code, Status reason, message and details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details` and `metadata.continue` (boxed: errors travel far and are rare).
    pub details: Box<Details>,
}

/// The optional parts of a `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Details {
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind` (the resource for most reasons, the Kind for `Invalid`).
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// `metadata.continue` (only on an expired continue token).
    pub continue_token: Option<String>,
    /// `details.retryAfterSeconds`, also sent as the `Retry-After` header.
    pub retry_after_seconds: Option<u32>,
    /// Send `details` even when all of it is empty, as upstream does for the reasons it
    /// builds with a `StatusDetails` (NotFound, AlreadyExists, Conflict, Forbidden, Invalid,
    /// MethodNotAllowed, InternalError, Timeout, TooManyRequests): clients read its fields
    /// without checking that it is there (`kubectl debug` does).
    pub shown: bool,
}

/// `pods` or `storageclasses.storage.k8s.io`, as upstream qualifies resources in messages.
pub fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

impl ApiError {
    /// A bare error with code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    /// The same error with a (perhaps empty) `details` object.
    fn with_details(mut self) -> Self {
        self.details.shown = true;
        self
    }

    fn about(mut self, rt: &ResourceType, name: &str) -> Self {
        self.details.shown = true;
        self.details.name = Some(name.to_string()).filter(|n| !n.is_empty());
        self.details.group = Some(rt.group.to_string()).filter(|g| !g.is_empty());
        self.details.kind = Some(rt.plural.to_string());
        self
    }

    /// 404: `pods "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(rt)),
        )
        .about(rt, name)
    }

    /// 409: `pods "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(rt)),
        )
        .about(rt, name)
    }

    /// 409: an update based on a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(rt)
            ),
        )
        .about(rt, name)
    }

    /// 409 with upstream's stale-object text.
    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422: `Pod "x" is invalid: ...` (`Deployment.apps "x"` for a named group), one cause
    /// per field error.
    pub fn invalid(rt: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(rt.group, rt.kind, name, errors)
    }

    /// 422 about an object of `kind` in `group` that is not a served resource (e.g.
    /// `DeleteOptions.meta.k8s.io`).
    pub fn invalid_kind(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let list = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {list}"),
        )
        .with_details();
        e.details.name = Some(name.to_string());
        e.details.group = Some(group.to_string()).filter(|g| !g.is_empty());
        e.details.kind = Some(kind.to_string());
        e.details.causes = errors
            .iter()
            .map(|f| Cause {
                reason: f.kind.cause_type().into(),
                message: f.detail.clone(),
                field: f.field.clone(),
            })
            .collect();
        e
    }

    /// 409 for a server-side apply that would take fields other managers hold: one
    /// `FieldManagerConflict` cause per field, as upstream's `NewApplyConflict`.
    pub fn apply_conflict(message: impl Into<String>, causes: Vec<(String, String)>) -> Self {
        let mut e = Self::new(409, "Conflict", message).with_details();
        e.details.causes = causes
            .into_iter()
            .map(|(message, field)| Cause {
                reason: "FieldManagerConflict".into(),
                message,
                field,
            })
            .collect();
        e
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 `Forbidden` with a ready message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message).with_details()
    }

    /// 403 about one object (e.g. a namespace being terminated).
    pub fn forbidden_on(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::forbidden(format!("{} \"{name}\" is forbidden: {why}", qualified(rt))).about(rt, name)
    }

    /// 404 for a path or resource the server does not serve.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details()
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details()
    }

    /// 406 `NotAcceptable`.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json, application/yaml (not {accept})"),
        )
    }

    /// 410 `Expired`: a watch or list from a revision that left the history window.
    pub fn gone(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {} (got {content_type:?})",
                accepted.join(", ")
            ),
        )
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details();
        e.details.causes.push(Cause {
            reason: String::new(),
            message: message.to_string(),
            field: String::new(),
        });
        e
    }

    /// 429 `TooManyRequests` from the in-flight limits, as upstream's max-in-flight filter
    /// answers: retry after one second.
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details();
        e.details.retry_after_seconds = Some(1);
        e
    }

    /// 504 `Timeout`: a request that outlived `--request-timeout`, as upstream's
    /// `WithTimeoutForNonLongRunningRequests` answers it.
    pub fn request_timeout() -> Self {
        Self::new(
            504,
            "Timeout",
            "Timeout: request did not complete within the allotted timeout",
        )
        .with_details()
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        let d = &self.details;
        if let Some(n) = &d.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &d.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &d.kind {
            details.insert("kind".into(), json!(k));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| {
                    // Upstream leaves an empty reason or field out.
                    let mut cause = serde_json::Map::new();
                    for (key, value) in [
                        ("reason", &c.reason),
                        ("message", &c.message),
                        ("field", &c.field),
                    ] {
                        if !value.is_empty() {
                            cause.insert(key.into(), json!(value));
                        }
                    }
                    Value::Object(cause)
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(seconds) = d.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(seconds));
        }
        let mut metadata = serde_json::Map::new();
        if let Some(c) = &d.continue_token {
            metadata.insert("continue".into(), json!(c));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if d.shown || !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Failed => ApiError::unavailable(e.to_string()),
            // etcd answers "etcdserver: request is too large"; say what and how much
            StoreError::TooLarge { .. } => {
                ApiError::new(413, "RequestEntityTooLarge", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// A `Status` of success, as returned by some deletes.
pub fn success_status(rt: &ResourceType, name: &str, uid: Option<&str>) -> Value {
    let mut details = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_sent_where_upstream_sends_them_even_empty() {
        let details = |e: ApiError| e.to_status().get("details").cloned();
        assert_eq!(details(ApiError::path_not_found()), Some(json!({})));
        assert_eq!(details(ApiError::method_not_allowed()), Some(json!({})));
        assert_eq!(details(ApiError::forbidden("no")), Some(json!({})));
        assert_eq!(details(ApiError::request_timeout()), Some(json!({})));
        assert_eq!(
            details(ApiError::internal("disk gone")),
            Some(json!({"causes": [{"message": "disk gone"}]}))
        );
        assert_eq!(
            details(ApiError::too_many_requests()),
            Some(json!({"retryAfterSeconds": 1}))
        );
        // Upstream builds these without a StatusDetails.
        assert_eq!(details(ApiError::bad_request("x")), None);
        assert_eq!(details(ApiError::unauthorized()), None);
        assert_eq!(details(ApiError::gone(1, 2)), None);
        assert_eq!(details(ApiError::unavailable("x")), None);
    }
}
