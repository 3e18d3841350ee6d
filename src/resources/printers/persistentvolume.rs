//! `kubectl get persistentvolumes`: upstream's `printPersistentVolume`. CLAIM is
//! `namespace/name`; the storage class comes from the beta annotation before
//! `spec.storageClassName`; a volume being deleted shows `Terminating`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    access_modes, age_cell, at, cell, is_deleting, list, name_cell, storage_quantity, text,
    text_column, Column, Printer, AGE, NAME,
};

/// PersistentVolume columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Capacity", "capacity is the description of the persistent volume's resources and capacity.", 0),
    text_column("Access Modes", "accessModes contains all ways the volume can be mounted.", 0),
    text_column("Reclaim Policy", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.", 0),
    text_column("Status", "phase indicates if a volume is available, bound to a claim, or released by a claim.", 0),
    text_column("Claim", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.", 0),
    text_column("StorageClass", "StorageClass of the pv", 0),
    text_column("VolumeAttributesClass", "VolumeAttributesClass of the pv", 0),
    text_column("Reason", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.", 0),
    AGE,
    text_column("VolumeMode", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", 1),
];

/// The legacy annotation that names a volume's or claim's class.
const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// Text at `path`, or `<unset>` when absent (upstream prints nil pointers so).
pub(crate) fn or_unset(obj: &Value, path: &[&str]) -> String {
    at(obj, path)
        .and_then(Value::as_str)
        .map_or_else(|| "<unset>".to_string(), str::to_string)
}

/// Upstream's `helper.GetPersistentVolumeClass` and `GetPersistentVolumeClaimClass`
/// (the same rule for volumes and claims): the beta annotation, else `spec.storageClassName`.
pub(crate) fn class(obj: &Value) -> &str {
    match at(obj, &["metadata", "annotations", BETA_CLASS_ANNOTATION]).and_then(Value::as_str) {
        Some(class) => class,
        None => text(obj, &["spec", "storageClassName"]),
    }
}

/// The STATUS cell of volumes and claims: `Terminating` while being deleted, else the phase.
pub(crate) fn phase(obj: &Value) -> &str {
    if is_deleting(obj) {
        "Terminating"
    } else {
        text(obj, &["status", "phase"])
    }
}

fn row(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match at(pv, &["spec", "claimRef"]).filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", text(c, &["namespace"]), text(c, &["name"])),
        None => String::new(),
    };
    vec![
        name_cell(pv),
        cell(storage_quantity(at(pv, &["spec", "capacity"]))),
        cell(access_modes(list(pv, &["spec", "accessModes"]))),
        cell(text(pv, &["spec", "persistentVolumeReclaimPolicy"])),
        cell(phase(pv)),
        cell(claim),
        cell(class(pv)),
        cell(or_unset(pv, &["spec", "volumeAttributesClassName"])),
        cell(text(pv, &["status", "reason"])),
        age_cell(pv, now),
        cell(or_unset(pv, &["spec", "volumeMode"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bound_volume_row() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pv = json!({
            "metadata": {"name": "pv-1", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
                     "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            (PRINTER.row)(&pv, now),
            vec![
                json!("pv-1"),
                json!("5Gi"),
                json!("RWO"),
                json!("Delete"),
                json!("Bound"),
                json!("default/data"),
                json!("local-path"),
                json!("<unset>"),
                json!(""),
                json!("60m"),
                json!("Filesystem")
            ]
        );
    }

    #[test]
    fn terminating_and_annotation_class() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pv = json!({
            "metadata": {"name": "pv-2", "deletionTimestamp": "2024-05-01T11:00:00Z",
                         "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            "spec": {"storageClassName": "new"},
            "status": {"phase": "Released"}
        });
        let row = (PRINTER.row)(&pv, now);
        assert_eq!(
            (
                row[1].clone(),
                row[4].clone(),
                row[5].clone(),
                row[6].clone(),
                row[10].clone()
            ),
            (
                json!("0"),
                json!("Terminating"),
                json!(""),
                json!("old"),
                json!("<unset>")
            )
        );
    }
}
