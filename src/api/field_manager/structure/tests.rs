use serde_json::json;

use super::*;
use crate::resources::patch_schema::{OBJECT_META, POD};

#[test]
fn keyed_lists_merge_by_key_and_sets_by_value() {
    let pod = root(&POD);
    let live = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
                      "metadata": {"finalizers": ["one"]}});
    let config = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]},
                        "metadata": {"finalizers": ["two", "one"]}});
    let merged = merge(&live, &config, &pod);
    assert_eq!(
        merged["spec"]["containers"],
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
    );
    assert_eq!(merged["metadata"]["finalizers"], json!(["one", "two"]));
    let (changed, removed) = compare(&live, &merged, &pod);
    let printed: Vec<String> = changed
        .paths()
        .iter()
        .map(|p| super::super::path::display(p))
        .collect();
    assert!(
        printed.contains(&r#".spec.containers[name="b"].image"#.to_string()),
        "{printed:?}"
    );
    assert!(
        printed.contains(&r#".spec.containers[name="c"]"#.to_string()),
        "{printed:?}"
    );
    assert!(
        printed.contains(&r#".metadata.finalizers[="two"]"#.to_string()),
        "{printed:?}"
    );
    assert!(removed.is_empty());
}

#[test]
fn removal_takes_fields_items_and_set_values() {
    let pod = root(&POD);
    let mut obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
                         "spec": {"containers": [{"name": "a", "image": "x", "tty": true}, {"name": "b"}]}});
    let mut set = FieldSet::new();
    let f = |s: &str| Element::Field(s.into());
    set.insert(&[f("metadata"), f("labels"), f("b")]);
    set.insert(&[f("metadata"), f("finalizers"), Element::value(&json!("x"))]);
    let b = json!({"name": "b"});
    set.insert(&[
        f("spec"),
        f("containers"),
        Element::key(b.as_object().unwrap()),
    ]);
    let a = json!({"name": "a"});
    set.insert(&[
        f("spec"),
        f("containers"),
        Element::key(a.as_object().unwrap()),
        f("tty"),
    ]);
    remove(&mut obj, &set, &pod);
    assert_eq!(
        obj,
        json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["y"]},
               "spec": {"containers": [{"name": "a", "image": "x"}]}})
    );
}

#[test]
fn lists_without_keys_are_one_field() {
    let meta = root(&OBJECT_META);
    // an owner reference without its key: the list is held whole
    let value = json!({"ownerReferences": [{"name": "x"}]});
    let set = fields_of(&value, &meta);
    assert_eq!(set.to_fields_v1(), json!({"f:ownerReferences": {}}));
    let empty = fields_of(&json!({"labels": {}}), &meta);
    assert_eq!(empty.to_fields_v1(), json!({"f:labels": {}}));
}
