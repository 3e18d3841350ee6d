//! The `ServiceAccount` kind: an identity for processes in pods. Upstream's
//! `ValidateServiceAccount` checks only the metadata (a DNS subdomain name); its `token`
//! subresource issues bound tokens (see `api::registry::token_request`).

use serde_json::Value;

use super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `serviceaccounts` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    short_names: &["sa"],
    namespaced: true,
    ephemeral: false,
    subresources: &["token"],
    categories: &[],
    strategy: &ServiceAccountStrategy,
    printer: &printers::serviceaccount::PRINTER,
    patch_schema: &patch_schema::SERVICE_ACCOUNT,
};

/// The service account every namespace gets and pods run as unless they name another.
pub const DEFAULT_NAME: &str = "default";

/// Write behaviour of `ServiceAccount`.
pub struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::ServiceAccount>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_object_meta(obj, true, NameRule::Dns1123Subdomain)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(self.validate(new));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_must_be_dns_subdomains() {
        let ok = json!({"metadata": {"name": "ci-bot.builders", "namespace": "default"}});
        assert!(RESOURCE.strategy.validate(&ok).is_empty());
        let bad = json!({"metadata": {"name": "CI_Bot", "namespace": "default"}});
        let errs = RESOURCE.strategy.validate(&bad);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "metadata.name");
    }
}
