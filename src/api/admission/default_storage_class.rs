//! Upstream's `DefaultStorageClass` admission: a new claim that does not name a class
//! (`storageClassName` absent, not `""`) gets the class annotated
//! `storageclass.kubernetes.io/is-default-class: "true"`; with several, the newest wins
//! (then the name, as upstream's `GetDefaultClass`).

use serde_json::{json, Value};

use crate::api::registry::{list, Registry};
use crate::api::status::ApiError;
use crate::controllers::volume_binding::ANN_DEFAULT_CLASS;
use crate::resources::{persistentvolumeclaim, storageclass, ResourceType};

/// The default class among `classes`, if any.
pub fn default_class(classes: &[&Value]) -> Option<String> {
    classes
        .iter()
        .filter(|c| {
            c.pointer("/metadata/annotations")
                .and_then(|a| a.get(ANN_DEFAULT_CLASS))
                .and_then(Value::as_str)
                == Some("true")
        })
        .map(|c| {
            let created = c
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str);
            let name = c
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            (created.unwrap_or(""), name)
        })
        // newest first; equal times: the name that sorts first
        .max_by(|a, b| a.0.cmp(b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, name)| name.to_string())
}

/// Sets the default class on a new claim without one.
pub fn admit(registry: &Registry, rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if !(rt.group.is_empty() && rt.plural == persistentvolumeclaim::RESOURCE.plural) {
        return Ok(());
    }
    if obj
        .pointer("/spec/storageClassName")
        .is_some_and(|v| !v.is_null())
    {
        return Ok(());
    }
    let (objects, _) = registry
        .store()
        .list(&list::prefix(&storageclass::RESOURCE, None));
    let parsed: Vec<Value> = objects.iter().map(|o| o.value()).collect();
    let values: Vec<&Value> = parsed.iter().collect();
    if let Some(name) = default_class(&values) {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("storageClassName".into(), json!(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: bool) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created,
            "annotations": {ANN_DEFAULT_CLASS: if default { "true" } else { "false" }}}})
    }

    #[test]
    fn newest_default_wins() {
        let a = class("a", "2024-01-01T00:00:00Z", true);
        let b = class("b", "2024-02-01T00:00:00Z", true);
        let c = class("c", "2024-03-01T00:00:00Z", false);
        assert_eq!(default_class(&[&a, &b, &c]).as_deref(), Some("b"));
        assert_eq!(default_class(&[&a, &c]).as_deref(), Some("a"));
        assert_eq!(default_class(&[&c]), None);
        let a2 = class("a2", "2024-01-01T00:00:00Z", true);
        assert_eq!(default_class(&[&a2, &a]).as_deref(), Some("a"));
    }
}
