//! What every PodSecurity check shares, as upstream's `policy/checks.go`, `helpers.go` and
//! `visitor.go`: a check's verdict (a short reason plus a detail naming the offending
//! containers), the walk over every container of a pod (init, regular, ephemeral) and the
//! quoting and plural forms the messages use.

use serde_json::Value;

/// Why a pod fails one check: `reason` is the short form (`runAsNonRoot != true`), `detail`
/// says which part of the pod must change (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The short reason, as listed for a namespace's existing pods.
    pub reason: String,
    /// What must change, shown in parentheses after the reason.
    pub detail: String,
}

impl Violation {
    /// A violation with `reason` and `detail`.
    pub fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Violation {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// A check's verdict: `None` when the pod passes.
pub type Verdict = Option<Violation>;

/// A verdict as `reason: detail` (empty when allowed), for the checks' unit tests.
#[cfg(test)]
pub fn test_text(v: Verdict) -> String {
    v.map(|v| format!("{}: {}", v.reason, v.detail))
        .unwrap_or_default()
}

/// Every container of the pod spec: init containers, containers, then ephemeral containers.
pub fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
}

/// A container's name.
pub fn name(container: &Value) -> &str {
    container.get("name").and_then(Value::as_str).unwrap_or("")
}

/// `obj.securityContext.<path>` (path in JSON-pointer form without the leading slash), for a
/// pod spec or a container alike.
pub fn security<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    obj.get("securityContext")?.pointer(&format!("/{path}"))
}

/// A boolean `securityContext` field, `None` when unset.
pub fn security_bool(obj: &Value, path: &str) -> Option<bool> {
    security(obj, path).and_then(Value::as_bool)
}

/// A string `securityContext` field, `None` when unset.
pub fn security_str<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    security(obj, path).and_then(Value::as_str)
}

/// Whether an optional field is absent or JSON null (Go's nil pointer).
pub fn unset(v: Option<&Value>) -> bool {
    !v.is_some_and(|v| !v.is_null())
}

/// `"a", "b"`, as upstream's `joinQuote`.
pub fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `singular` for one, `plural` otherwise.
pub fn pluralize<'a>(singular: &'a str, plural: &'a str, count: usize) -> &'a str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

/// `container "a"` or `containers "a", "b"`.
pub fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// A string quoted as Go's `%q` does for the printable text annotations hold.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether the pod runs in its own user namespace (`hostUsers: false`), which relaxes some
/// checks from v1.35 on.
pub fn in_user_namespace(spec: &Value) -> bool {
    spec.get("hostUsers").and_then(Value::as_bool) == Some(false)
}

/// Whether the pod declares itself a Windows pod (`spec.os.name: windows`), which v1.25+
/// exempts from the Linux-only restricted checks.
pub fn is_windows(spec: &Value) -> bool {
    spec.pointer("/os/name").and_then(Value::as_str) == Some("windows")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_init_then_regular_then_ephemeral_containers() {
        let spec = json!({"containers": [{"name": "b"}], "initContainers": [{"name": "a"}],
            "ephemeralContainers": [{"name": "c"}]});
        let names: Vec<&str> = containers(&spec).map(name).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn phrases_and_quotes() {
        assert_eq!(containers_phrase(&["a"]), "container \"a\"");
        assert_eq!(containers_phrase(&["a", "b"]), "containers \"a\", \"b\"");
        assert_eq!(go_quote("un\"confined\n"), "\"un\\\"confined\\n\"");
    }
}
