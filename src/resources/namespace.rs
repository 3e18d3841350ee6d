//! The `Namespace` kind: upstream's namespace strategy (`pkg/registry/core/namespace`):
//! a DNS-label name, the `kubernetes` finalizer and the `Active` phase.

use serde_json::{json, Value};

use super::validation::fields::{keep_old, list_at, object_mut, str_at};
use super::validation::{
    is_qualified_name, validate_object_meta, validate_object_meta_update, NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `namespaces` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status", "finalize"],
    categories: &[],
    strategy: &NamespaceStrategy,
    printer: &printers::namespace::PRINTER,
    patch_schema: &patch_schema::NAMESPACE,
};

/// Write behaviour of `Namespace`.
pub struct NamespaceStrategy;

/// Upstream `LabelMetadataName`: every namespace carries its own name as a label.
const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Upstream `IsStandardFinalizerName`.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

impl Strategy for NamespaceStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Namespace>(obj)
    }

    /// Upstream `SetDefaults_NamespaceStatus` and the strategy's name label.
    fn default(&self, obj: &mut Value) {
        let name = str_at(obj, &["metadata", "name"]).to_string();
        if !name.is_empty() {
            if let Some(labels) = object_mut(obj, &["metadata", "labels"]) {
                labels.insert(METADATA_NAME_LABEL.into(), json!(name));
            }
        }
        if let Some(status) = object_mut(obj, &["status"]) {
            super::validation::fields::default_field(status, "phase", json!("Active"));
        }
    }

    /// Upstream `namespaceStrategy.PrepareForCreate`: Active, with the `kubernetes` finalizer.
    fn prepare_for_create(&self, obj: &mut Value) {
        let mut finalizers = list_at(obj, &["spec", "finalizers"]).to_vec();
        if !finalizers.iter().any(|f| f == "kubernetes") {
            finalizers.push(json!("kubernetes"));
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("spec".into(), json!({"finalizers": finalizers}));
            m.insert("status".into(), json!({"phase": "Active"}));
        }
    }

    /// Upstream: spec.finalizers change only through the `finalize` subresource.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "spec");
        keep_old(new, old, "status");
    }

    /// The `kubernetes` finalizer keeps a deleted namespace until its content is gone.
    fn holds_deletion(&self, obj: &Value) -> bool {
        !list_at(obj, &["spec", "finalizers"]).is_empty()
    }

    /// Upstream's namespace delete: the phase becomes `Terminating`.
    fn mark_deleting(&self, obj: &mut Value) {
        if let Some(status) = object_mut(obj, &["status"]) {
            status.insert("phase".into(), json!("Terminating"));
        }
    }

    /// Upstream `namespaceFinalizeStrategy`: only `spec.finalizers` changes.
    fn prepare_for_finalize(&self, new: &mut Value, old: &Value) {
        let finalizers = new.pointer("/spec/finalizers").cloned();
        let meta = new.get("metadata").cloned();
        *new = old.clone();
        new["spec"] = json!({"finalizers": finalizers.unwrap_or_else(|| json!([]))});
        if let Some(meta) = meta {
            new["metadata"] = meta;
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::Dns1123Label);
        for f in list_at(obj, &["spec", "finalizers"]) {
            let f = f.as_str().unwrap_or("");
            errs.extend(
                is_qualified_name(f)
                    .into_iter()
                    .map(|m| FieldError::invalid("spec.finalizers", &json!(f), &m)),
            );
            if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
                errs.push(FieldError::invalid(
                    "spec.finalizers",
                    &json!(f),
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_object_meta_update(new, old)
    }

    /// Upstream `NamespaceToSelectableFields` (with the legacy `name`).
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "status.phase" => Some(str_at(obj, &["status", "phase"]).to_string()),
            "name" => Some(str_at(obj, &["metadata", "name"]).to_string()),
            _ => None,
        }
    }

    fn field_label_reads(&self, field: &str) -> Vec<String> {
        match field {
            "name" => vec!["metadata.name".into()],
            other => vec![other.to_string()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_sets_phase_finalizer_and_label() {
        let mut ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}});
        NamespaceStrategy.default(&mut ns);
        NamespaceStrategy.prepare_for_create(&mut ns);
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["metadata"]["labels"][METADATA_NAME_LABEL], "team-a");
        assert!(NamespaceStrategy.validate(&ns).is_empty());
        assert_eq!(
            NamespaceStrategy
                .field_label(&ns, "status.phase")
                .as_deref(),
            Some("Active")
        );
    }

    #[test]
    fn name_must_be_a_dns_label() {
        let ns = json!({"metadata": {"name": "a.b"}});
        let errs: Vec<String> = NamespaceStrategy
            .validate(&ns)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        let ns = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["custom"]}});
        assert!(NamespaceStrategy.validate(&ns)[0]
            .detail
            .ends_with("name is neither a standard finalizer name nor is it fully qualified"));
    }

    #[test]
    fn update_keeps_finalizers_and_status() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}});
        let mut new = json!({"metadata": {"name": "a"}, "spec": {}, "status": {"phase": "Active"}});
        NamespaceStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new, old);
    }
}
