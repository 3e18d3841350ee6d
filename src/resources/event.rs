//! The `Event` kind (`core/v1`): upstream's legacy event validation (`legacyValidateEvent`),
//! which is all a `v1` Event gets, and the event field selectors.

use serde_json::{json, Value};

use super::validation::fields::str_at;
use super::validation::{
    is_dns1123_subdomain, is_qualified_name, validate_object_meta, validate_object_meta_update,
    NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `events` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    namespaced: true,
    ephemeral: true,
    subresources: &[],
    categories: &[],
    strategy: &EventStrategy,
    printer: &printers::event::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Event`.
pub struct EventStrategy;

/// Upstream length limits for new-style events (those with `eventTime`).
const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

fn validate_event(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = str_at(ev, &["metadata", "namespace"]);
    let involved_ns = str_at(ev, &["involvedObject", "namespace"]);
    let mismatch = || {
        FieldError::invalid(
            "involvedObject.namespace",
            &json!(involved_ns),
            "does not match event.namespace",
        )
    };
    let event_time = ev.get("eventTime").is_some_and(|t| !t.is_null());
    if !event_time {
        // Old-style events: the namespaces agree (cluster-scoped objects report in default).
        if involved_ns.is_empty() {
            if !namespace.is_empty() && namespace != "default" {
                errs.push(mismatch());
            }
        } else if namespace != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let controller = str_at(ev, &["reportingComponent"]);
        if controller.is_empty() {
            errs.push(FieldError::required("reportingComponent", ""));
        }
        for m in is_qualified_name(controller) {
            errs.push(FieldError::invalid(
                "reportingComponent",
                &json!(controller),
                &m,
            ));
        }
        for (field, limit, required) in [
            ("reportingInstance", REPORTING_INSTANCE_LIMIT, true),
            ("action", ACTION_LIMIT, true),
            ("reason", REASON_LIMIT, true),
            ("message", NOTE_LIMIT, false),
        ] {
            let v = str_at(ev, &[field]);
            if required && v.is_empty() {
                errs.push(FieldError::required(field, ""));
            }
            if v.len() > limit {
                errs.push(FieldError::invalid(
                    field,
                    &json!(""),
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
    }
    for m in is_dns1123_subdomain(namespace) {
        errs.push(FieldError::invalid("namespace", &json!(namespace), &m));
    }
    errs
}

impl Strategy for EventStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Event>(obj)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_event(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_event(new));
        errs
    }

    /// Upstream `EventToSelectableFields`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        let path: &[&str] = match field {
            "involvedObject.kind" => &["involvedObject", "kind"],
            "involvedObject.namespace" => &["involvedObject", "namespace"],
            "involvedObject.name" => &["involvedObject", "name"],
            "involvedObject.uid" => &["involvedObject", "uid"],
            "involvedObject.apiVersion" => &["involvedObject", "apiVersion"],
            "involvedObject.resourceVersion" => &["involvedObject", "resourceVersion"],
            "involvedObject.fieldPath" => &["involvedObject", "fieldPath"],
            "reason" => &["reason"],
            "reportingComponent" => &["reportingComponent"],
            "source" => &["source", "component"],
            "type" => &["type"],
            _ => return None,
        };
        Some(str_at(obj, path).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled", "type": "Normal", "source": {"component": "default-scheduler"}})
    }

    #[test]
    fn namespaces_must_agree() {
        assert!(EventStrategy.validate(&event()).is_empty());
        let mut bad = event();
        bad["involvedObject"]["namespace"] = json!("other");
        assert_eq!(
            EventStrategy.validate(&bad)[0].to_string(),
            "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"
        );
    }

    #[test]
    fn new_style_events_need_reporting_fields() {
        let mut ev = event();
        ev["eventTime"] = json!("2024-01-01T00:00:00.000000Z");
        let errs: Vec<String> = EventStrategy
            .validate(&ev)
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert!(errs.contains(&"reportingComponent".to_string()));
        assert!(errs.contains(&"action".to_string()));
    }

    #[test]
    fn field_labels() {
        assert_eq!(
            EventStrategy.field_label(&event(), "source").as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(
            EventStrategy
                .field_label(&event(), "involvedObject.kind")
                .as_deref(),
            Some("Pod")
        );
        assert_eq!(EventStrategy.field_label(&event(), "count"), None);
    }
}
