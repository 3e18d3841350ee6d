//! One step of a field path, as the managed-fields format (FieldsV1) writes it: `f:<name>`
//! for a field of an object, `k:<key JSON>` for an item of a keyed list, `v:<value JSON>`
//! for an item of a set, `i:<index>` for an item by position; and as upstream prints it in
//! conflict messages (`.spec.containers[name="web"].image`).

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// A field of an object (or a key of a map).
    Field(String),
    /// An item of a keyed list, by its key fields (compact JSON, fields sorted).
    Key(String),
    /// An item of a set, by its value (compact JSON).
    Value(String),
    /// An item by position.
    Index(usize),
}

impl Element {
    /// The item of a keyed list whose key fields are `key`.
    pub fn key(key: &Map<String, Value>) -> Element {
        // serde_json's map keeps keys sorted (no `preserve_order`), as FieldsV1 wants them
        Element::Key(Value::Object(key.clone()).to_string())
    }

    /// The item of a set that is `value`.
    pub fn value(value: &Value) -> Element {
        Element::Value(value.to_string())
    }

    /// The FieldsV1 spelling.
    pub fn encode(&self) -> String {
        match self {
            Element::Field(name) => format!("f:{name}"),
            Element::Key(json) => format!("k:{json}"),
            Element::Value(json) => format!("v:{json}"),
            Element::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads a FieldsV1 spelling; `None` for anything else.
    pub fn decode(s: &str) -> Option<Element> {
        let (kind, rest) = s.split_at_checked(2)?;
        match kind {
            "f:" => Some(Element::Field(rest.to_string())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(key) => Some(Element::key(&key)),
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| Element::value(&v)),
            "i:" => rest.parse().ok().map(Element::Index),
            _ => None,
        }
    }

    /// Upstream's printed form, as in `.spec.containers[name="web"]`.
    pub fn display(&self) -> String {
        match self {
            Element::Field(name) => format!(".{name}"),
            Element::Key(json) => {
                let fields = match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(m)) => m
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => json.clone(),
                };
                format!("[{fields}]")
            }
            Element::Value(json) => format!("[={json}]"),
            Element::Index(i) => format!("[{i}]"),
        }
    }
}

/// A whole path, printed as upstream prints it.
pub fn display(path: &[Element]) -> String {
    path.iter().map(Element::display).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spellings_round_trip_and_print_as_upstream() {
        let key = json!({"name": "web"});
        let elements = [
            Element::Field("spec".into()),
            Element::Field("containers".into()),
            Element::key(key.as_object().unwrap()),
            Element::Field("image".into()),
        ];
        for e in &elements {
            assert_eq!(Element::decode(&e.encode()).as_ref(), Some(e));
        }
        assert_eq!(elements[2].encode(), r#"k:{"name":"web"}"#);
        assert_eq!(display(&elements), r#".spec.containers[name="web"].image"#);
        let v = Element::value(&json!("example.com/guard"));
        assert_eq!(v.display(), r#"[="example.com/guard"]"#);
        assert_eq!(Element::decode("i:3"), Some(Element::Index(3)));
        for bad in ["", "x", "q:1", "k:[1]", "k:{", "i:-1"] {
            assert_eq!(Element::decode(bad), None, "{bad}");
        }
        // key fields are written sorted whatever order they came in
        let two = Element::decode(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        assert_eq!(two.encode(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
    }
}
