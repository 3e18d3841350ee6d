//! `meta.k8s.io` Table responses: what `kubectl get` prints, with columns from the kind's
//! printer (or upstream's default Name / Created At columns).

use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::resources::ResourceType;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter.
    pub fn parse(s: &str) -> Self {
        match s {
            "None" => Self::None,
            "Object" => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `objects`; `list_meta` becomes its metadata; `headers` false omits the column
/// definitions (later events of a watch).
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    version: &str,
    include: IncludeObject,
    list_meta: Value,
    headers: bool,
) -> Value {
    let now = Utc::now();
    let custom = !rt.printer.columns.is_empty();
    let columns: Vec<Value> = if custom {
        rt.printer
            .columns
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
            })
            .collect()
    } else {
        vec![
            json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
            json!({"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}),
        ]
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = if custom {
                (rt.printer.row)(o, now)
            } else {
                vec![
                    o.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
                    o.pointer("/metadata/creationTimestamp")
                        .cloned()
                        .unwrap_or(Value::Null),
                ]
            };
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert("object".into(), partial_metadata(o, version));
                }
                IncludeObject::Object => {
                    row.insert("object".into(), o.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": list_meta,
        "rows": rows,
    });
    if headers {
        t["columnDefinitions"] = Value::Array(columns);
    }
    t
}
