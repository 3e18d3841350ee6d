//! `meta.k8s.io` Table responses: what `kubectl get` prints, with columns from the kind's
//! printer.

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
    objects: impl IntoIterator<Item = Value>,
    version: &str,
    include: IncludeObject,
    list_meta: Value,
    headers: bool,
) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| row(rt, o, now, version, include))
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": list_meta,
        "rows": rows,
    });
    if headers {
        t["columnDefinitions"] = columns(rt);
    }
    t
}

/// [`table`] with headers, written as JSON one row at a time: a list's objects are parsed,
/// turned into a row and dropped in turn, never all held at once. The same bytes as
/// serialising [`table`]'s value (members in serde_json's key order).
pub fn table_json(
    rt: &ResourceType,
    objects: impl IntoIterator<Item = Value>,
    version: &str,
    include: IncludeObject,
    list_meta: &Value,
) -> Vec<u8> {
    let now = Utc::now();
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, &format!("meta.k8s.io/{version}"));
    out.extend_from_slice(b",\"columnDefinitions\":");
    let _ = serde_json::to_writer(&mut out, &columns(rt));
    out.extend_from_slice(b",\"kind\":\"Table\",\"metadata\":");
    let _ = serde_json::to_writer(&mut out, list_meta);
    out.extend_from_slice(b",\"rows\":[");
    for (i, o) in objects.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, &row(rt, o, now, version, include));
    }
    out.extend_from_slice(b"]}");
    out
}

fn columns(rt: &ResourceType) -> Value {
    rt.printer
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format,
                   "description": c.description, "priority": c.priority})
        })
        .collect()
}

fn row(
    rt: &ResourceType,
    o: Value,
    now: chrono::DateTime<Utc>,
    version: &str,
    include: IncludeObject,
) -> Value {
    let cells = (rt.printer.row)(&o, now);
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(cells));
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row.insert("object".into(), partial_metadata(&o, version));
        }
        IncludeObject::Object => {
            row.insert("object".into(), o);
        }
    }
    Value::Object(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::pod;

    #[test]
    fn written_table_is_the_table_value() {
        let pods = [
            json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "1"}},
                   "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "b", "namespace": "ns"}, "status": {}}),
        ];
        let meta = json!({"resourceVersion": "7"});
        for include in [
            IncludeObject::None,
            IncludeObject::Metadata,
            IncludeObject::Object,
        ] {
            let value = table(
                &pod::RESOURCE,
                pods.clone(),
                "v1",
                include,
                meta.clone(),
                true,
            );
            let written = table_json(&pod::RESOURCE, pods.clone(), "v1", include, &meta);
            let value = serde_json::to_vec(&value).unwrap();
            // No creation times: no age column that could tick between the two.
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(value).unwrap()
            );
        }
        let empty = table_json(&pod::RESOURCE, [], "v1", IncludeObject::None, &meta);
        let value = table(
            &pod::RESOURCE,
            [],
            "v1",
            IncludeObject::None,
            meta.clone(),
            true,
        );
        assert_eq!(empty, serde_json::to_vec(&value).unwrap());
    }
}
