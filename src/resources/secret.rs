//! The `Secret` kind: upstream's `ValidateSecret`/`ValidateSecretUpdate`: the `Opaque` default,
//! `stringData` folded into `data`, per-type required keys, and an immutable `type`.

use base64::Engine;
use serde_json::{json, Value};

use super::configmap::{base64_len, validate_immutable_data, validate_keys, MAX_DATA_SIZE};
use super::validation::fields::{map_at, str_at};
use super::validation::{
    validate_immutable, validate_object_meta, validate_object_meta_update, NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `secrets` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &SecretStrategy,
    printer: &printers::secret::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Upstream `ServiceAccountNameKey`.
const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// Write behaviour of `Secret`.
pub struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Secret>(obj)
    }

    /// Upstream `SetDefaults_Secret` (type `Opaque`) and the v1 conversion that writes
    /// `stringData` over `data`, base64-encoded.
    fn default(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        if m.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            m.insert("type".into(), json!("Opaque"));
        }
        if let Some(Value::Object(string_data)) = m.remove("stringData") {
            let data = m.entry("data").or_insert_with(|| json!({}));
            if data.is_null() {
                *data = json!({});
            }
            if let Some(data) = data.as_object_mut() {
                for (k, v) in string_data {
                    let encoded =
                        base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or(""));
                    data.insert(k, json!(encoded));
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_keys(obj, "data"));
        let data = map_at(obj, &["data"]);
        let mut total = 0;
        for (k, v) in data {
            match base64_len(v) {
                Some(n) => total += n,
                None => errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    &json!("<secret contents redacted>"),
                    "illegal base64 data",
                )),
            }
        }
        if total > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("data", MAX_DATA_SIZE));
        }
        let required = |key: &str| FieldError::required(format!("data[{key}]"), "");
        let sa_name = str_at(obj, &["metadata", "annotations", SA_NAME_ANNOTATION]);
        let ssh_key_len =
            base64_len(data.get("ssh-privatekey").unwrap_or(&Value::Null)).unwrap_or(0);
        match str_at(obj, &["type"]) {
            "kubernetes.io/service-account-token" if sa_name.is_empty() => errs.push(
                FieldError::required(format!("metadata.annotations[{SA_NAME_ANNOTATION}]"), ""),
            ),
            "kubernetes.io/dockercfg" => errs.extend(json_key(data, ".dockercfg")),
            "kubernetes.io/dockerconfigjson" => errs.extend(json_key(data, ".dockerconfigjson")),
            "kubernetes.io/basic-auth"
                if !data.contains_key("username") && !data.contains_key("password") =>
            {
                errs.push(required("username"));
                errs.push(required("password"));
            }
            "kubernetes.io/ssh-auth" if ssh_key_len == 0 => errs.push(required("ssh-privatekey")),
            "kubernetes.io/tls" => {
                for key in ["tls.crt", "tls.key"] {
                    if !data.contains_key(key) {
                        errs.push(required(key));
                    }
                }
            }
            _ => {}
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_immutable(new.get("type"), old.get("type"), "type"));
        errs.extend(validate_immutable_data(new, old, &["data"]));
        errs.extend(self.validate(new));
        errs
    }

    /// Upstream `SecretToSelectableFields`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "type").then(|| str_at(obj, &["type"]).to_string())
    }
}

/// A docker config key must be present and hold JSON.
fn json_key(data: &serde_json::Map<String, Value>, key: &str) -> Vec<FieldError> {
    let Some(v) = data.get(key) else {
        return vec![FieldError::required(format!("data[{key}]"), "")];
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap_or_default();
    match serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(
            format!("data[{key}]"),
            &json!("<secret contents redacted>"),
            &e.to_string(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(extra: Value) -> Value {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        SecretStrategy.default(&mut s);
        s
    }

    #[test]
    fn string_data_becomes_data_and_type_defaults() {
        let s = secret(json!({"stringData": {"password": "hunter2"}}));
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"]["password"], "aHVudGVyMg==");
        assert!(s.get("stringData").is_none());
        assert!(SecretStrategy.validate(&s).is_empty());
        assert_eq!(
            SecretStrategy.field_label(&s, "type").as_deref(),
            Some("Opaque")
        );
    }

    #[test]
    fn tls_needs_cert_and_key() {
        let s = secret(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}));
        let errs: Vec<String> = SecretStrategy
            .validate(&s)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["data[tls.key]: Required value"]);
    }

    #[test]
    fn type_is_immutable() {
        let old = secret(json!({"data": {"a": "eA=="}}));
        let mut new = old.clone();
        new["type"] = json!("kubernetes.io/basic-auth");
        new["data"]["username"] = json!("eA==");
        let errs: Vec<String> = SecretStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"]
        );
    }
}
