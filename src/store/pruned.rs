//! Reading part of a stored object: the members named by a set of dotted paths
//! (`metadata.labels`, `spec.nodeName`), parsed from the object's JSON text into a `Value` of
//! the same shape, while everything else is skipped without being built. A selector or a
//! check that needs a few fields of each of a thousand pods then costs a scan of their text
//! rather than a thousand parsed copies.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Object;

/// Which members of an object to read: a tree of member names, each either kept whole or
/// narrowed further.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    root: Node,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Keep this member with everything below it.
    whole: bool,
    children: BTreeMap<String, Node>,
}

impl Paths {
    /// No members at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the member at `path` (dot-separated member names from the top, e.g.
    /// `metadata.labels`) with everything below it.
    pub fn add(&mut self, path: &str) {
        let mut node = &mut self.root;
        for segment in path.split('.') {
            if node.whole {
                return;
            }
            node = node.children.entry(segment.to_string()).or_default();
        }
        node.whole = true;
        node.children.clear();
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        !self.root.whole && self.root.children.is_empty()
    }
}

impl Object {
    /// The object with only the members `paths` names (and the objects on the way to them);
    /// the rest is skipped. Parses as [`Object::value`] does when nothing can be skipped.
    pub fn pruned(&self, paths: &Paths) -> Value {
        if paths.root.whole {
            return self.value();
        }
        let mut de = serde_json::Deserializer::from_str(self.json());
        Keep(&paths.root).deserialize(&mut de).unwrap_or_else(|e| {
            tracing::error!(error = %e, revision = self.revision, "stored object no longer parses");
            Value::Null
        })
    }
}

/// Builds the kept part of one JSON value. Below an object, members are kept by name; any
/// other value on the way to a path (an array, a string) is kept whole.
struct Keep<'p>(&'p Node);

impl<'de> DeserializeSeed<'de> for Keep<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keep<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(Member(self.0))? {
            match found {
                Some((name, node)) => {
                    let v = map.next_value_seed(Keep(node))?;
                    out.insert(name, v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Reads one member name and looks it up among the kept ones, allocating only for those.
struct Member<'p>(&'p Node);

impl<'de, 'p> DeserializeSeed<'de> for Member<'p> {
    type Value = Option<(String, &'p Node)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for Member<'p> {
    type Value = Option<(String, &'p Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.children.get(v).map(|n| (v.to_string(), n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(list: &[&str]) -> Paths {
        let mut p = Paths::new();
        for path in list {
            p.add(path);
        }
        p
    }

    fn pod() -> Object {
        Object::from_value(
            3,
            &json!({
                "metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web"}, "uid": "u"},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
                "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]},
            }),
        )
        .unwrap()
    }

    #[test]
    fn keeps_only_the_named_members() {
        let p = pod().pruned(&paths(&[
            "metadata.labels",
            "spec.nodeName",
            "status.podIPs",
        ]));
        assert_eq!(
            p,
            json!({
                "metadata": {"labels": {"app": "web"}},
                "spec": {"nodeName": "n1"},
                "status": {"podIPs": [{"ip": "10.0.0.1"}]},
            })
        );
    }

    #[test]
    fn a_shorter_path_keeps_the_whole_member() {
        let p = pod().pruned(&paths(&["spec.nodeName", "spec", "metadata.name"]));
        assert_eq!(p["spec"], pod().value()["spec"]);
        assert_eq!(p["metadata"], json!({"name": "a"}));
        assert_eq!(paths(&["spec", "spec.nodeName"]), paths(&["spec"]));
    }

    #[test]
    fn missing_members_and_other_shapes() {
        assert_eq!(
            pod().pruned(&paths(&["spec.absent", "nothing"])),
            json!({"spec": {}})
        );
        assert_eq!(pod().pruned(&Paths::new()), json!({}));
        // A value that is not an object on the way to a path is kept as it is.
        let odd = Object::from_value(1, &json!({"spec": [1, {"a": 2}], "n": null})).unwrap();
        assert_eq!(
            odd.pruned(&paths(&["spec.a", "n.x"])),
            json!({"spec": [1, {"a": 2}], "n": null})
        );
        let scalars = Object::from_value(
            1,
            &json!({"a": {"t": true, "i": -1, "u": 2, "f": 1.5, "s": "x\"y"}}),
        )
        .unwrap();
        assert_eq!(scalars.pruned(&paths(&["a"])), scalars.value());
        assert_eq!(
            scalars.pruned(&paths(&["a.t", "a.i", "a.u", "a.f", "a.s"])),
            scalars.value()
        );
    }

    #[test]
    fn escaped_member_names_match() {
        let o = Object::from_value(1, &json!({"metadata": {"labels": {"a\"b": "1"}}})).unwrap();
        assert_eq!(o.pruned(&paths(&["metadata.labels"])), o.value());
        let escaped = Object::from_json(1, br#"{"m\u0065ta":{"x":1},"y":2}"#.to_vec()).unwrap();
        assert_eq!(
            escaped.pruned(&paths(&["meta.x"])),
            json!({"meta": {"x": 1}})
        );
    }
}
