//! `kubectl get storageclasses`: upstream's `printStorageClass`. The default class (GA or
//! beta `is-default-class` annotation set to `true`) shows as `name (default)`; reclaim
//! policy and binding mode show their defaults (`Delete`, `Immediate`) when unset.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, at, cell, text, text_column, Column, Printer, AGE, NAME};

/// StorageClass columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Provisioner", "provisioner indicates the type of the provisioner.", 0),
    text_column("ReclaimPolicy", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.", 0),
    text_column("VolumeBindingMode", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.", 0),
    text_column("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand.", 0),
    AGE,
];

const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

/// Upstream's `storageutil.IsDefaultAnnotation`.
pub fn is_default_class(sc: &Value) -> bool {
    DEFAULT_ANNOTATIONS
        .iter()
        .any(|a| text(sc, &["metadata", "annotations", a]) == "true")
}

fn or_default(v: &str, default: &str) -> String {
    if v.is_empty() { default } else { v }.to_string()
}

fn row(sc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut name = text(sc, &["metadata", "name"]).to_string();
    if is_default_class(sc) {
        name.push_str(" (default)");
    }
    let expansion = at(sc, &["allowVolumeExpansion"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![
        cell(name),
        cell(text(sc, &["provisioner"])),
        cell(or_default(text(sc, &["reclaimPolicy"]), "Delete")),
        cell(or_default(text(sc, &["volumeBindingMode"]), "Immediate")),
        Value::Bool(expansion),
        age_cell(sc, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_class_and_defaults() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let sc = json!({"metadata": {"name": "local-path",
                          "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "bramble.io/local-path",
                        "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            (PRINTER.row)(&sc, now),
            vec![
                json!("local-path (default)"),
                json!("bramble.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("<unknown>")
            ]
        );
        let beta = json!({"metadata": {"name": "b", "annotations": {
            "storageclass.beta.kubernetes.io/is-default-class": "true"}}});
        assert!(is_default_class(&beta));
        let not = json!({"metadata": {"name": "c", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "false"}}, "allowVolumeExpansion": true});
        assert_eq!((PRINTER.row)(&not, now)[0], json!("c"));
        assert_eq!((PRINTER.row)(&not, now)[3], json!("Immediate"));
        assert_eq!((PRINTER.row)(&not, now)[4], json!(true));
    }
}
