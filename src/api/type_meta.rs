//! A request body's `apiVersion` and `kind` (upstream's `TypeMeta`) checked against the ones
//! the endpoint expects, and filled in, as kube-apiserver's create and update handlers do:
//! either may be left out, but one that is given must match, or the request is a 400 with
//! upstream's message.

use serde_json::{Map, Value};

use super::status::ApiError;

/// What a request body must say it is.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The `apiVersion` written into the body: `v1` or `group/version`.
    pub api_version: &'a str,
    /// Another `apiVersion` the body may name (a custom resource's storage version, which
    /// a patched object of another served version still names).
    pub also_accepted: Option<&'a str>,
    /// The `kind`.
    pub kind: &'a str,
}

impl<'a> Expected<'a> {
    /// A body that must name exactly `api_version` and `kind` when it names them.
    pub fn new(api_version: &'a str, kind: &'a str) -> Self {
        Expected {
            api_version,
            also_accepted: None,
            kind,
        }
    }
}

/// Checks that `obj` is an object whose `apiVersion` and `kind`, where given, are the
/// expected ones, and sets both to the expected ones; returns the object's members for the
/// caller's further checks.
pub fn check_type_meta<'v>(
    obj: &'v mut Value,
    expected: Expected<'_>,
) -> Result<&'v mut Map<String, Value>, ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    };
    let want = expected.api_version;
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != want && Some(v) != expected.also_accepted => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )))
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != expected.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                expected.kind
            )))
        }
        _ => {}
    }
    map.insert("apiVersion".into(), Value::String(want.into()));
    map.insert("kind".into(), Value::String(expected.kind.into()));
    Ok(map)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const WANT: Expected<'static> = Expected {
        api_version: "example.com/v2",
        also_accepted: Some("example.com/v1"),
        kind: "Widget",
    };

    #[test]
    fn absent_fields_are_filled_and_the_stored_version_becomes_the_served_one() {
        for given in [json!({}), json!({"apiVersion": "example.com/v1"})] {
            let mut obj = given;
            check_type_meta(&mut obj, WANT).unwrap();
            assert_eq!(
                obj,
                json!({"apiVersion": "example.com/v2", "kind": "Widget"})
            );
        }
    }

    #[test]
    fn mismatches_and_non_objects_are_refused_with_upstreams_messages() {
        let message = |mut obj: Value| {
            let err = check_type_meta(&mut obj, WANT).unwrap_err();
            assert_eq!(err.code, 400);
            err.message
        };
        assert_eq!(
            message(json!({"apiVersion": "v1", "kind": "Widget"})),
            "the API version in the data (v1) does not match the expected API version \
             (example.com/v2)"
        );
        assert_eq!(
            message(json!({"apiVersion": "example.com/v2", "kind": "Gadget"})),
            "the kind in the data (Gadget) does not match the expected kind (Widget)"
        );
        assert_eq!(
            message(json!([])),
            "the body of the request must be a JSON or YAML object"
        );
        let mut stored = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
        let err = check_type_meta(&mut stored, Expected::new("example.com/v2", "Widget"));
        assert!(
            err.is_err(),
            "without also_accepted only api_version is taken"
        );
    }
}
