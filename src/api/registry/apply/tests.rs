use serde_json::json;

use super::*;
use crate::client::options::PatchType;
use crate::resources::{configmap, namespace};
use crate::store::Store;

async fn registry(dir: &std::path::Path) -> Registry {
    let r = Registry::new(Store::open(dir, 64).unwrap());
    r.create(
        &namespace::RESOURCE,
        "",
        json!({"metadata": {"name": "apps"}}),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    r
}

fn by(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: manager.into(),
        ..Default::default()
    }
}

fn yaml(data: &str) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n{data}").into_bytes()
}

#[tokio::test]
async fn apply_creates_then_merges_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let rt = &configmap::RESOURCE;
    let created = r
        .apply(
            rt,
            "apps",
            "cfg",
            &yaml("data:\n  a: '1'\n  b: '2'\n"),
            &by("ci"),
        )
        .await
        .unwrap();
    assert!(created.created);
    let obj = created.object.into_value();
    assert_eq!(obj["data"], json!({"a": "1", "b": "2"}));
    assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");

    // someone else changes a with an update: ci's apply of a differing value conflicts
    let patch = json!({"data": {"a": "9"}});
    r.patch(
        rt,
        "apps",
        "cfg",
        PatchType::Merge,
        patch.to_string().as_bytes(),
        Subresource::Main,
        &by("editor"),
    )
    .await
    .unwrap();
    let err = r
        .apply(
            rt,
            "apps",
            "cfg",
            &yaml("data:\n  a: '1'\n  b: '2'\n"),
            &by("ci"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .starts_with("Apply failed with 1 conflict: conflict with \"editor\" using v1 at ")
            && err.message.ends_with(": .data.a"),
        "{}",
        err.message
    );
    assert_eq!(err.details.causes[0].reason, "FieldManagerConflict");
    assert_eq!(err.details.causes[0].field, ".data.a");

    // dropping b removes it; forcing a takes it
    let forced = WriteOptions {
        force: true,
        ..by("ci")
    };
    let after = r
        .apply(rt, "apps", "cfg", &yaml("data:\n  a: '1'\n"), &forced)
        .await
        .unwrap()
        .object
        .into_value();
    assert_eq!(after["data"], json!({"a": "1"}));
}

#[tokio::test]
async fn an_applied_configuration_must_name_its_kind_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let rt = &configmap::RESOURCE;
    let no_kind = r
        .apply(rt, "apps", "cfg", b"metadata:\n  name: cfg\n", &by("ci"))
        .await
        .unwrap_err();
    assert_eq!(no_kind.code, 400);
    let other_name = r
        .apply(rt, "apps", "other", &yaml(""), &by("ci"))
        .await
        .unwrap_err();
    assert_eq!(
        other_name.message,
        "the name of the object (cfg) does not match the name on the URL (other)"
    );
    let unknown = r
        .apply(rt, "apps", "cfg", &yaml("colour: blue\n"), &by("ci"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, 400, "{}", unknown.message);
}

#[tokio::test]
async fn kubectl_applies_keep_the_client_side_annotation_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let rt = &configmap::RESOURCE;
    let annotated = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "annotations": {LAST_APPLIED: "{}"}}, "data": {"a": "1"}});
    r.create(rt, "apps", annotated, &by("kubectl-client-side-apply"))
        .await
        .unwrap();
    let after = r
        .apply(
            rt,
            "apps",
            "cfg",
            &yaml("data:\n  a: '1'\n"),
            &WriteOptions {
                force: true,
                ..by("kubectl")
            },
        )
        .await
        .unwrap()
        .object
        .into_value();
    let recorded: serde_json::Value = serde_json::from_str(
        after["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(recorded["data"], json!({"a": "1"}));
}
