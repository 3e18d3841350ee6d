//! The `ConfigMap` kind: upstream's `ValidateConfigMap` and `ValidateConfigMapUpdate` (config
//! keys, a 1 MiB total, and data frozen once `immutable: true`).

use base64::Engine;
use serde_json::{json, Value};

use super::validation::fields::map_at;
use super::validation::{
    is_config_map_key, validate_object_meta, validate_object_meta_update, NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `configmaps` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &ConfigMapStrategy,
    printer: &printers::configmap::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `ConfigMap`.
pub struct ConfigMapStrategy;

/// Upstream `MaxSecretSize`, which also bounds ConfigMaps.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// Upstream's message for data changed after `immutable: true`.
pub const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// Decoded size of a base64 value (`binaryData`, Secret `data`); `None` when not base64.
pub fn base64_len(v: &Value) -> Option<usize> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .ok()
        .map(|b| b.len())
}

/// Checks the keys of one data map (`data`, `binaryData`): upstream `IsConfigMapKey` per key.
pub fn validate_keys(obj: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in map_at(obj, &[field]).keys() {
        for m in is_config_map_key(key) {
            errs.push(FieldError::invalid(
                format!("{field}[{key}]"),
                &json!(key),
                &m,
            ));
        }
    }
    errs
}

/// Upstream's checks for an object whose old version had `immutable: true`.
pub fn validate_immutable_data(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return errs;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
    }
    for f in fields {
        if map_at(new, &[f]) != map_at(old, &[f]) {
            errs.push(FieldError::forbidden(*f, IMMUTABLE_WHEN_SET));
        }
    }
    errs
}

impl Strategy for ConfigMapStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::ConfigMap>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_keys(obj, "data"));
        let binary = map_at(obj, &["binaryData"]);
        for key in map_at(obj, &["data"])
            .keys()
            .filter(|k| binary.contains_key(*k))
        {
            errs.push(FieldError::invalid(
                format!("data[{key}]"),
                &json!(key),
                "duplicate of key present in binaryData",
            ));
        }
        errs.extend(validate_keys(obj, "binaryData"));
        let text: usize = map_at(obj, &["data"])
            .values()
            .map(|v| v.as_str().map_or(0, str::len))
            .sum();
        let bin: usize = binary.values().map(|v| base64_len(v).unwrap_or(0)).sum();
        if text + bin > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("", MAX_DATA_SIZE));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_immutable_data(new, old, &["data", "binaryData"]));
        errs.extend(self.validate(new));
        errs
    }

    fn field_label(&self, _obj: &Value, _field: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::validation::fields::str_at;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": data})
    }

    #[test]
    fn keys_and_size() {
        assert!(ConfigMapStrategy
            .validate(&cm(json!({"app.properties": "a=b"})))
            .is_empty());
        let errs = ConfigMapStrategy.validate(&cm(json!({"bad key": "x"})));
        assert_eq!(errs[0].to_string(), "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
        let big = cm(json!({"a": "x".repeat(MAX_DATA_SIZE + 1)}));
        assert_eq!(
            ConfigMapStrategy.validate(&big)[0].to_string(),
            ": Too long: may not be more than 1048576 bytes"
        );
        assert_eq!(str_at(&big, &["metadata", "name"]), "cfg");
    }

    #[test]
    fn immutable_data_stays() {
        let mut old = cm(json!({"a": "1"}));
        old["immutable"] = json!(true);
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        let errs: Vec<String> = ConfigMapStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        new["immutable"] = json!(false);
        new["data"]["a"] = json!("1");
        assert_eq!(
            ConfigMapStrategy.validate_update(&new, &old)[0].field,
            "immutable"
        );
    }
}
