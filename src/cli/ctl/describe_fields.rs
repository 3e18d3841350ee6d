//! The body of `describe` for any kind: nested fields printed the way kubectl's generic
//! describer prints objects it has no dedicated describer for (`printUnstructuredContent`):
//! camelCase keys become `Title Case` labels, maps indent by two spaces, list items follow
//! one another at the next level, keys are sorted. Secret values are never printed, only
//! their size, as upstream's `SecretDescriber` does.

use serde_json::{Map, Value};

/// Appends `Label:\tvalue` lines for `map` at `level` (two spaces per level) to `out`,
/// leaving out `skip` keys.
pub(crate) fn render_map(map: &Map<String, Value>, level: usize, skip: &[&str], out: &mut String) {
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        render_field(&smart_label(key), value, level, out);
    }
}

fn render_field(label: &str, value: &Value, level: usize, out: &mut String) {
    let indent = "  ".repeat(level);
    match value {
        Value::Object(m) if m.is_empty() => out.push_str(&format!("{indent}{label}:\t<none>\n")),
        Value::Object(m) => {
            out.push_str(&format!("{indent}{label}:\n"));
            render_map(m, level + 1, &[], out);
        }
        Value::Array(items) if items.is_empty() => {
            out.push_str(&format!("{indent}{label}:\t<none>\n"));
        }
        Value::Array(items) => {
            out.push_str(&format!("{indent}{label}:\n"));
            let inner = "  ".repeat(level + 1);
            for item in items {
                match item {
                    Value::Object(m) => render_map(m, level + 1, &[], out),
                    other => out.push_str(&format!("{inner}{}\n", scalar(other))),
                }
            }
        }
        other => out.push_str(&format!("{indent}{label}:\t{}\n", scalar(other))),
    }
}

/// A scalar as Go's `%v` prints it; line breaks are kept on one line.
pub(crate) fn scalar(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    };
    s.replace('\n', "\\n").replace('\t', " ")
}

/// Upstream's `smartLabelFor`: `nodeName` → `Node Name`, `podIPs` → `Pod IPs`.
pub(crate) fn smart_label(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let chars: Vec<char> = key.chars().collect();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev_lower =
            i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
        let acronym_end = i > 0
            && c.is_ascii_uppercase()
            && chars[i - 1].is_ascii_uppercase()
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_lowercase() && *n != 's');
        let boundary =
            (c.is_ascii_uppercase() && prev_lower) || acronym_end || c == '_' || c == '-';
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        if c != '_' && c != '-' {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
        .into_iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => first.to_uppercase().chain(cs).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Secret data as upstream's `SecretDescriber` shows it: `key:  N bytes`.
pub(crate) fn render_secret_data(data: Option<&Value>, out: &mut String) {
    out.push_str("\nData\n====\n");
    let Some(map) = data.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in map {
        // values are base64 on the wire; report the decoded size
        let encoded = v.as_str().unwrap_or("").trim_end_matches('=');
        let bytes = encoded.len() * 3 / 4;
        out.push_str(&format!("{k}:\t{bytes} bytes\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_split_camel_case_and_keep_acronyms() {
        assert_eq!(smart_label("nodeName"), "Node Name");
        assert_eq!(smart_label("podIPs"), "Pod IPs");
        assert_eq!(smart_label("podIP"), "Pod IP");
        assert_eq!(smart_label("hostIPAddress"), "Host IP Address");
        assert_eq!(smart_label("containers"), "Containers");
    }

    #[test]
    fn nested_values_indent_and_list_items_follow_each_other() {
        let spec = json!({"containers": [{"name": "redis", "image": "redis"}, {"name": "nginx", "image": "nginx"}],
                          "nodeName": "pi-1", "volumes": [], "args": ["a", "b"]});
        let mut out = String::new();
        render_field("Spec", &spec, 0, &mut out);
        assert_eq!(
            out,
            "Spec:\n  Args:\n    a\n    b\n  Containers:\n    Image:\tredis\n    Name:\tredis\n    \
             Image:\tnginx\n    Name:\tnginx\n  Node Name:\tpi-1\n  Volumes:\t<none>\n"
        );
    }

    #[test]
    fn secret_values_are_sizes_only() {
        let mut out = String::new();
        render_secret_data(Some(&json!({"password": "c2VjcmV0"})), &mut out);
        assert_eq!(out, "\nData\n====\npassword:\t6 bytes\n");
        assert!(!out.contains("c2VjcmV0"));
    }
}
