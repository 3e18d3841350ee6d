//! Custom resources are stored at their CRD's storage version and served at every served
//! version. With conversion strategy `None`, as upstream, a version differs from another only
//! in `apiVersion`: this rewrites it on the way out. Stored JSON begins with `apiVersion`
//! (members are kept in order), so the common case swaps a prefix without parsing.

use std::borrow::Cow;

use serde_json::Value;

use crate::resources::ResourceType;

/// The version objects of `rt` are stored at, when it is not `rt`'s own.
fn differs(rt: &ResourceType) -> Option<(&str, String)> {
    let stored = rt.strategy.stored_api_version()?;
    let served = rt.api_version();
    (stored != served).then_some((stored, served))
}

/// A stored object's JSON as `rt`'s version serves it.
pub fn json<'a>(rt: &ResourceType, stored_json: &'a str) -> Cow<'a, str> {
    let Some((stored, served)) = differs(rt) else {
        return Cow::Borrowed(stored_json);
    };
    let prefix = format!("{{\"apiVersion\":\"{stored}\"");
    if let Some(rest) = stored_json.strip_prefix(&prefix) {
        return Cow::Owned(format!("{{\"apiVersion\":\"{served}\"{rest}"));
    }
    match serde_json::from_str::<Value>(stored_json) {
        Ok(mut v) => {
            set(&mut v, served);
            Cow::Owned(v.to_string())
        }
        Err(_) => Cow::Borrowed(stored_json),
    }
}

/// A stored object as `rt`'s version serves it.
pub fn value(rt: &ResourceType, mut v: Value) -> Value {
    if let Some((_, served)) = differs(rt) {
        set(&mut v, served);
    }
    v
}

fn set(v: &mut Value, api_version: String) {
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::custom;

    fn crd() -> Value {
        json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}})
    }

    #[test]
    fn another_served_version_changes_only_the_api_version() {
        let beta = custom::resource_type(&crd(), "v1beta1").expect("served");
        let v1 = custom::resource_type(&crd(), "v1").expect("served");
        let stored = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"}}"#;
        assert_eq!(
            json(beta, stored),
            r#"{"apiVersion":"example.com/v1beta1","kind":"Widget","metadata":{"name":"a"}}"#
        );
        assert!(matches!(json(v1, stored), Cow::Borrowed(_)));
        let reordered = r#"{"kind":"Widget","apiVersion":"example.com/v1"}"#;
        let v: Value = serde_json::from_str(&json(beta, reordered)).unwrap();
        assert_eq!(v["apiVersion"], "example.com/v1beta1");
        assert_eq!(
            value(beta, json!({"apiVersion": "example.com/v1"}))["apiVersion"],
            "example.com/v1beta1"
        );
    }
}
