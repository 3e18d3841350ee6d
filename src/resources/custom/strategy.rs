//! Write behaviour of a custom resource, as upstream's `customResourceStrategy`: pruning and
//! defaulting from the structural schema, schema validation with metadata rules, the status
//! subresource's split of what each endpoint may change, and the scale subresource's paths.

use serde_json::Value;

use super::jsonpath::{self, Step};
use super::schema::{self, Schema};
use crate::resources::typed::{DecodeError, Decoded};
use crate::resources::validation::fields::keep_old;
use crate::resources::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use crate::resources::{FieldError, Strategy};

/// Where the scale subresource reads and writes.
struct ScalePaths {
    spec: String,
    status: String,
    selector: Option<Vec<Step>>,
}

/// Write behaviour of one served version of a custom resource.
pub struct CustomStrategy {
    schema: Option<Schema>,
    /// The schema as written, for the OpenAPI documents.
    raw_schema: Option<Value>,
    /// `group/version` of the CRD's storage version.
    stored_api_version: String,
    status: bool,
    scale: Option<ScalePaths>,
    namespaced: bool,
}

impl CustomStrategy {
    /// The behaviour `version` (one of a CRD's `spec.versions`) describes.
    pub fn new(version: &Value, namespaced: bool, stored_api_version: String) -> Self {
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .map(|s| schema::parse(s, "").0);
        let subs = version.get("subresources");
        let scale = subs.and_then(|s| s.get("scale")).and_then(|s| {
            let path = |k: &str| {
                s.get(k)
                    .and_then(Value::as_str)
                    .and_then(|p| jsonpath::parse(p).ok())
            };
            Some(ScalePaths {
                spec: jsonpath::pointer(&path("specReplicasPath")?)?,
                status: jsonpath::pointer(&path("statusReplicasPath")?)?,
                selector: path("labelSelectorPath"),
            })
        });
        CustomStrategy {
            schema,
            raw_schema: version.pointer("/schema/openAPIV3Schema").cloned(),
            stored_api_version,
            status: subs.and_then(|s| s.get("status")).is_some(),
            scale,
            namespaced,
        }
    }
}

impl CustomStrategy {
    /// The structural schema, if the version has one.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }
}

impl Strategy for CustomStrategy {
    fn decode(&self, mut obj: Value) -> Result<Decoded, DecodeError> {
        let unknown_fields = match &self.schema {
            Some(s) => schema::prune(&mut obj, s),
            None => Vec::new(),
        };
        // Conversion `None`: every version is stored as the storage version.
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                Value::String(self.stored_api_version.clone()),
            );
        }
        Ok(Decoded {
            object: obj,
            unknown_fields,
        })
    }

    fn default(&self, obj: &mut Value) {
        if let Some(s) = &self.schema {
            schema::apply_defaults(obj, s);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if self.status {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.status {
            keep_old(new, old, "status");
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, self.namespaced, NameRule::Dns1123Subdomain);
        if let Some(s) = &self.schema {
            errs.extend(schema::validate(obj, s));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        if let Some(s) = &self.schema {
            errs.extend(schema::validate(new, s));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn scale_selector(&self, obj: &Value) -> Option<String> {
        let steps = self.scale.as_ref()?.selector.as_ref()?;
        jsonpath::find(obj, steps)
            .first()
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    fn replicas_pointers(&self) -> (&str, &str) {
        match &self.scale {
            Some(s) => (&s.spec, &s.status),
            None => ("/spec/replicas", "/status/replicas"),
        }
    }

    fn accepts_strategic_merge(&self) -> bool {
        false
    }

    fn custom_schema(&self) -> Option<&Value> {
        self.raw_schema.as_ref()
    }

    fn stored_api_version(&self) -> Option<&str> {
        Some(&self.stored_api_version)
    }
}
