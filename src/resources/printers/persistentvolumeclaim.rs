//! `kubectl get persistentvolumeclaims`: upstream's `printPersistentVolumeClaim`. Capacity
//! and access modes come from the status, and only once the claim names a volume.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::persistentvolume::{class, or_unset, phase};
use super::{
    access_modes, age_cell, at, cell, list, name_cell, storage_quantity, text, text_column, Column,
    Printer, AGE, NAME,
};

/// PersistentVolumeClaim columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Status",
        "phase represents the current phase of PersistentVolumeClaim.",
        0,
    ),
    text_column(
        "Volume",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
        0,
    ),
    text_column(
        "Capacity",
        "capacity represents the actual resources of the underlying volume.",
        0,
    ),
    text_column(
        "Access Modes",
        "accessModes contains the actual access modes the volume backing the PVC has.",
        0,
    ),
    text_column("StorageClass", "StorageClass of the pvc", 0),
    text_column(
        "VolumeAttributesClass",
        "VolumeAttributesClass of the pvc",
        0,
    ),
    AGE,
    text_column(
        "VolumeMode",
        "volumeMode defines what type of volume is required by the claim.",
        1,
    ),
];

fn row(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = text(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_quantity(at(pvc, &["status", "capacity"])),
            access_modes(list(pvc, &["status", "accessModes"])),
        )
    };
    vec![
        name_cell(pvc),
        cell(phase(pvc)),
        cell(volume),
        cell(capacity),
        cell(modes),
        cell(class(pvc)),
        cell(or_unset(pvc, &["spec", "volumeAttributesClassName"])),
        age_cell(pvc, now),
        cell(or_unset(pvc, &["spec", "volumeMode"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_and_bound_claims() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pending = json!({
            "metadata": {"name": "data", "creationTimestamp": "2024-05-01T11:59:00Z"},
            "spec": {"storageClassName": "local-path", "resources": {"requests": {"storage": "1Gi"}},
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"}
        });
        assert_eq!(
            (PRINTER.row)(&pending, now),
            vec![
                json!("data"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("local-path"),
                json!("<unset>"),
                json!("60s"),
                json!("Filesystem")
            ]
        );
        let mut bound = pending.clone();
        bound["spec"]["volumeName"] = json!("pv-1");
        bound["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"},
                                 "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"]});
        let row = (PRINTER.row)(&bound, now);
        assert_eq!(
            &row[1..5],
            &[
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO,RWOP")
            ]
        );
    }
}
