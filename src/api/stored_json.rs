//! Response bodies written from stored objects' JSON text: a `{Kind}List` and a watch event
//! line with each object's text copied in, byte for byte what serialising them as a
//! `serde_json::Value` gives (members in serde_json's key order: without `preserve_order` a
//! map's keys are sorted), so clients see the same answers without the server parsing and
//! re-serialising every object it sends.

use serde_json::Value;

/// A list with each item's JSON text copied in. `size` is a hint of the items' bytes.
pub fn list<S: AsRef<str>>(
    api_version: &str,
    kind: &str,
    meta: &Value,
    size: usize,
    items: impl Iterator<Item = S>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(b"{\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, api_version);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_ref().as_bytes());
    }
    out.extend_from_slice(b"],\"kind\":");
    let _ = serde_json::to_writer(&mut out, kind);
    out.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut out, meta);
    out.push(b'}');
    out
}

/// One watch event line, `{"object":…,"type":…}` and a newline, the object's text copied in.
pub fn watch_line(type_name: &str, object: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"object\":");
    out.extend_from_slice(object.as_bytes());
    out.extend_from_slice(b",\"type\":");
    let _ = serde_json::to_writer(&mut out, type_name);
    out.extend_from_slice(b"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> Vec<Value> {
        vec![
            json!({"metadata": {"name": "a", "labels": {"z": "1", "a": "é\"\\"}}, "spec": {"n": 1.5}}),
            json!({"metadata": {"name": "b"}, "status": {"phase": "Running", "x": [null, true, -2]}}),
        ]
    }

    #[test]
    fn a_list_is_the_serialised_value() {
        let meta = json!({"resourceVersion": "9", "continue": "abc"});
        let texts: Vec<String> = pods().iter().map(|p| p.to_string()).collect();
        let written = list("v1", "PodList", &meta, 0, texts.iter());
        let value =
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": pods()});
        assert_eq!(written, serde_json::to_vec(&value).unwrap());
        let empty = list("v1", "PodList", &meta, 0, std::iter::empty::<&str>());
        let value = json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": []});
        assert_eq!(empty, serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn a_watch_line_is_the_serialised_event() {
        let pod = &pods()[0];
        let mut want = serde_json::to_vec(&json!({"type": "MODIFIED", "object": pod})).unwrap();
        want.push(b'\n');
        assert_eq!(watch_line("MODIFIED", &pod.to_string()), want);
    }
}
