//! Why a patch could not be applied, and the HTTP status upstream answers for it.
//!
//! The mapping mirrors `k8s.io/apiserver/pkg/endpoints/handlers/patch.go` (v1.32):
//! `applyJSPatch` answers 400 for an undecodable JSON patch or merge patch, 413 past 10000
//! JSON-patch operations and a bare 422 when an operation fails; `strategicPatchObject`
//! answers 400 for an undecodable body and `interpretStrategicMergePatchError` sorts the
//! strategic-merge errors into 400, 422, or (any other error) a plain error that
//! `ErrorToAPIStatus` turns into a 500 with an empty reason.

/// A patch that could not be applied; [`PatchError::to_api_error`] is its `meta/v1 Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400 `BadRequest`: the body is not a patch of its type (upstream `NewBadRequest`).
    #[error("{0}")]
    BadRequest(String),
    /// 422 `Invalid`, as upstream's `NewGenericServerResponse(422, ...)`: the Status message is
    /// the generic text below and `details` is an empty object; `detail` is the cause, which
    /// upstream does not send to the client (kept for logs).
    #[error("the server rejected our request due to an error in our request")]
    Unprocessable {
        /// What went wrong, e.g. the failing JSON-patch operation.
        detail: String,
    },
    /// 413 `RequestEntityTooLarge`: a JSON patch with more operations than upstream allows.
    #[error("Request entity too large: The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit (upstream `maxJSONPatchOperations`).
        max: usize,
        /// Operations in the request.
        got: usize,
    },
    /// 500 with an empty reason: upstream returns these strategic-merge errors unwrapped
    /// (e.g. a list item without its merge key), so the client sees the raw text.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// The HTTP status code upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable { .. } => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Internal(_) => 500,
        }
    }

    /// The Status `reason`; empty means the field is omitted (upstream `StatusReasonUnknown`).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Unprocessable { .. } => "Invalid",
            PatchError::TooManyOperations { .. } => "RequestEntityTooLarge",
            PatchError::Internal(_) => "",
        }
    }

    /// Whether upstream's Status carries `"details": {}` (only the generic 422 does).
    pub fn has_empty_details(&self) -> bool {
        matches!(self, PatchError::Unprocessable { .. })
    }

    /// The error to answer: code, reason, the `Display` text as the message, and an empty
    /// `details` where upstream sends one.
    pub fn to_api_error(&self) -> crate::client::status::ApiError {
        let mut e =
            crate::client::status::ApiError::new(self.code(), self.reason(), self.to_string());
        e.details.shown = self.has_empty_details();
        e
    }

    /// A 422 with upstream's generic message and `detail` kept for logs.
    pub(crate) fn unprocessable(detail: impl Into<String>) -> Self {
        PatchError::Unprocessable {
            detail: detail.into(),
        }
    }
}

/// The sentinel errors of upstream's `k8s.io/apimachinery/pkg/util/mergepatch/errors.go`,
/// with the status `interpretStrategicMergePatchError` gives each.
pub(crate) mod sentinel {
    use serde_json::{Map, Value};

    use super::super::go_format;
    use super::PatchError;

    /// `ErrBadPatchFormatForPrimitiveList`.
    pub fn bad_primitive_list() -> PatchError {
        PatchError::BadRequest("invalid patch format of primitive list".into())
    }

    /// `ErrBadPatchFormatForRetainKeys`.
    pub fn bad_retain_keys() -> PatchError {
        PatchError::BadRequest("invalid patch format of retainKeys".into())
    }

    /// `ErrBadPatchFormatForSetElementOrderList`.
    pub fn bad_set_element_order() -> PatchError {
        PatchError::BadRequest("invalid patch format of setElementOrder list".into())
    }

    /// `ErrNoListOfLists`: a 422 whose message upstream replaces with the generic text.
    pub fn list_of_lists() -> PatchError {
        PatchError::unprocessable("lists of lists are not supported")
    }

    /// `ErrNoMergeKey`: a list item lacks the field its list merges by.
    pub fn no_merge_key(item: &Map<String, Value>, merge_key: &str) -> PatchError {
        PatchError::Internal(format!(
            "map: {} does not contain declared merge key: {merge_key}",
            go_format::map(item)
        ))
    }

    /// `ErrBadArgType`: a value of another JSON type than the one expected there.
    pub fn bad_arg_type(expected_go_type: &str, actual: &Value) -> PatchError {
        PatchError::Internal(format!(
            "expected a {expected_go_type}, but received a {}",
            go_format::type_name(actual)
        ))
    }

    /// `ErrBadPatchType`: a `$patch` directive with an unknown value.
    pub fn bad_patch_type(directive: &Value, item: &Map<String, Value>) -> PatchError {
        PatchError::Internal(format!(
            "unknown patch type: {} in map: {}",
            go_format::string_verb(directive),
            go_format::map(item)
        ))
    }

    /// `findMapInSliceBasedOnKeyValue`'s error for a list item that is not an object.
    pub fn not_a_map(index: usize) -> PatchError {
        PatchError::Internal(format!("value for key {index} is not a map"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_upstream() {
        let e = PatchError::unprocessable("test failed");
        assert_eq!((e.code(), e.reason()), (422, "Invalid"));
        assert_eq!(
            e.to_string(),
            "the server rejected our request due to an error in our request"
        );
        let e = PatchError::TooManyOperations {
            max: 10000,
            got: 10001,
        };
        assert_eq!(e.code(), 413);
        assert_eq!(
            e.to_string(),
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
        assert_eq!(sentinel::bad_retain_keys().code(), 400);
        assert_eq!(PatchError::Internal("x".into()).reason(), "");
    }
}
