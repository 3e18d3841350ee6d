//! JSON patch (RFC 6902), `application/json-patch+json`.
//!
//! Upstream (`applyJSPatch` with `gopkg.in/evanphx/json-patch.v4`) decodes the body as a
//! list of loosely typed operations: only a body that is not a JSON list of objects is a 400.
//! Everything wrong with an operation itself (unknown `op`, missing `path`, a path that does
//! not exist, a failing `test`) surfaces while applying and becomes the generic 422. More
//! than 10000 operations is a 413, and `copy` may duplicate at most 3 MiB in one request
//! (upstream `JSONPatchMaxCopyBytes`), which keeps a small body from growing the document
//! exponentially.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, PatchOperation, RemoveOperation, ReplaceOperation,
    TestOperation,
};
use serde_json::{Map, Value};

use super::{go_format, PatchError};

/// Upstream `maxJSONPatchOperations`.
pub const MAX_OPERATIONS: usize = 10000;

/// Upstream `JSONPatchMaxCopyBytes`: bytes all `copy` operations of one patch may duplicate.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Applies a JSON patch to `original`.
pub fn apply(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let ops = decode(patch)?;
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_OPERATIONS,
            got: ops.len(),
        });
    }
    let mut doc = original.clone();
    let mut copied = 0usize;
    for op in ops {
        let op = operation(op)?;
        if let PatchOperation::Copy(copy) = &op {
            if let Some(source) = doc.pointer(copy.from.as_str()) {
                copied = copied.saturating_add(encoded_len(source));
                if copied > MAX_COPY_BYTES {
                    return Err(PatchError::unprocessable(format!(
                        "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_COPY_BYTES}"
                    )));
                }
            }
        }
        // The document is a private copy thrown away on error, so no undo log is needed.
        json_patch::patch_unsafe(&mut doc, std::slice::from_ref(&op))
            .map_err(|e| PatchError::unprocessable(e.to_string()))?;
    }
    Ok(doc)
}

/// Upstream `jsonpatch.DecodePatch`: a JSON list whose items are objects (or null).
fn decode(patch: &[u8]) -> Result<Vec<Map<String, Value>>, PatchError> {
    let value: Value =
        serde_json::from_slice(patch).map_err(|e| PatchError::BadRequest(syntax_message(&e)))?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_format::json_kind(&other)
            )))
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(op) => Ok(op),
            Value::Null => Ok(Map::new()),
            other => Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                go_format::json_kind(&other)
            ))),
        })
        .collect()
}

/// One operation as evanphx reads it: a missing `value` means null; a missing or malformed
/// `op`, `path` or `from` fails the operation (a 422, like any failed operation).
fn operation(mut op: Map<String, Value>) -> Result<PatchOperation, PatchError> {
    let kind = match op.get("op") {
        Some(Value::String(kind)) => kind.clone(),
        _ => "unknown".to_string(),
    };
    let pointer = |field: &str| -> Result<PointerBuf, PatchError> {
        let text = match op.get(field) {
            Some(Value::String(text)) => text,
            _ => {
                return Err(PatchError::unprocessable(format!(
                    "{kind} operation missing {field} field"
                )))
            }
        };
        PointerBuf::parse(text.as_str()).map_err(|e| {
            PatchError::unprocessable(format!("{kind} operation has a bad {field} {text:?}: {e}"))
        })
    };
    let path = pointer("path");
    let from = pointer("from");
    let value = op.remove("value").unwrap_or(Value::Null);
    Ok(match kind.as_str() {
        "add" => PatchOperation::Add(AddOperation { path: path?, value }),
        "remove" => PatchOperation::Remove(RemoveOperation { path: path? }),
        "replace" => PatchOperation::Replace(ReplaceOperation { path: path?, value }),
        "move" => PatchOperation::Move(MoveOperation {
            from: from?,
            path: path?,
        }),
        "copy" => PatchOperation::Copy(CopyOperation {
            from: from?,
            path: path?,
        }),
        "test" => PatchOperation::Test(TestOperation { path: path?, value }),
        _ => {
            return Err(PatchError::unprocessable(format!(
                "Unexpected kind: {kind}"
            )))
        }
    })
}

/// A decoding error worded as Go's `encoding/json` where the wording is the same for every
/// input (truncated body); otherwise the parser's own description.
pub(crate) fn syntax_message(e: &serde_json::Error) -> String {
    if e.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        e.to_string()
    }
}

/// Length of `v` encoded as compact JSON, without building the encoding.
fn encoded_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; an error would only shorten the count.
    let _ = serde_json::to_writer(&mut counter, v);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(original: Value, ops: Value) -> Result<Value, PatchError> {
        apply(&original, ops.to_string().as_bytes())
    }

    #[test]
    fn applies_every_operation_kind() {
        let original = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        let ops = json!([
            {"op": "test", "path": "/metadata/labels/a", "value": "1"},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "replace", "path": "/spec/list/0", "value": 0},
            {"op": "copy", "from": "/metadata/labels", "path": "/spec/labels"},
            {"op": "move", "from": "/metadata/labels/a", "path": "/metadata/labels/b"},
            {"op": "remove", "path": "/spec/list/1"}
        ]);
        assert_eq!(
            patch(original, ops).unwrap(),
            json!({"metadata": {"labels": {"b": "1"}}, "spec": {"list": [0, 3], "labels": {"a": "1"}}})
        );
    }

    #[test]
    fn failing_operations_are_the_generic_422() {
        let original = json!({"metadata": {"name": "x"}});
        for ops in [
            json!([{"op": "test", "path": "/metadata/name", "value": "y"}]),
            json!([{"op": "remove", "path": "/spec"}]),
            json!([{"op": "replace", "path": "/spec/x", "value": 1}]),
            json!([{"op": "frobnicate", "path": "/metadata"}]),
            json!([{"op": "add", "value": 1}]),
            json!([null]),
        ] {
            let err = patch(original.clone(), ops).unwrap_err();
            assert_eq!((err.code(), err.reason()), (422, "Invalid"), "{err:?}");
        }
    }

    #[test]
    fn bodies_that_are_not_operation_lists_are_400() {
        let err = apply(&json!({}), b"{}").unwrap_err();
        assert_eq!(
            err,
            PatchError::BadRequest(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into()
            )
        );
        let err = apply(&json!({}), b"[1]").unwrap_err();
        assert_eq!(err.code(), 400);
        let err = apply(&json!({}), b"[{\"op\":").unwrap_err();
        assert_eq!(
            err,
            PatchError::BadRequest("unexpected end of JSON input".into())
        );
        assert_eq!(apply(&json!({"a": 1}), b"null").unwrap(), json!({"a": 1}));
    }

    #[test]
    fn operation_count_and_copy_growth_are_bounded() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "", "value": {}}))
            .collect();
        let err = patch(json!({}), Value::Array(ops)).unwrap_err();
        assert_eq!((err.code(), err.reason()), (413, "RequestEntityTooLarge"));

        // Each copy doubles the document: 30 of them would need gigabytes.
        let ops: Vec<Value> = (0..30)
            .map(|_| json!({"op": "copy", "from": "/a", "path": "/a/-"}))
            .collect();
        let original = json!({"a": ["0123456789abcdef0123456789abcdef"]});
        assert_eq!(patch(original, Value::Array(ops)).unwrap_err().code(), 422);
    }
}
