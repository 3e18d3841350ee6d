//! Generic validation rules shared by every kind: names, labels, annotations.
#![allow(missing_docs)]
use super::FieldError;
use serde_json::Value;
pub fn validate_object_meta(_o: &Value, _n: bool, _k: &str) -> Vec<FieldError> {
    Vec::new()
}
pub fn validate_object_meta_update(_n: &Value, _o: &Value) -> Vec<FieldError> {
    Vec::new()
}
