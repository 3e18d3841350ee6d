//! Checks on what a container may do as root, as upstream's `check_privileged.go`,
//! `check_capabilities_baseline.go`, `check_capabilities_restricted.go` and
//! `check_allowPrivilegeEscalation.go`: baseline forbids privileged containers and capabilities
//! beyond the runtime's default set; restricted requires dropping ALL (adding back only
//! NET_BIND_SERVICE) and `allowPrivilegeEscalation: false`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::violation::{containers, containers_phrase, is_windows, join_quote, name};
use super::violation::{security, security_bool, Verdict, Violation};

/// The capabilities container runtimes grant by default, which baseline lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// No container may be privileged.
pub fn privileged(_meta: &Value, spec: &Value) -> Verdict {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| security_bool(c, "privileged") == Some(true))
        .map(name)
        .collect();
    (!bad.is_empty()).then(|| {
        let detail = format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        );
        Violation::new("privileged", detail)
    })
}

/// A container's `capabilities.<list>`.
fn capabilities<'a>(c: &'a Value, list: &str) -> impl Iterator<Item = &'a str> {
    security(c, &format!("capabilities/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Containers may add only capabilities of the default set.
pub fn capabilities_baseline(_meta: &Value, spec: &Value) -> Verdict {
    let mut bad = Vec::new();
    let mut extra = BTreeSet::new();
    for c in containers(spec) {
        let mut valid = true;
        for cap in capabilities(c, "add") {
            if !BASELINE_CAPABILITIES.contains(&cap) {
                valid = false;
                extra.insert(cap);
            }
        }
        if !valid {
            bad.push(name(c));
        }
    }
    (!bad.is_empty()).then(|| {
        let extra: Vec<&str> = extra.into_iter().collect();
        let detail = format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&extra)
        );
        Violation::new("non-default capabilities", detail)
    })
}

/// Containers must drop ALL and may add back only NET_BIND_SERVICE (v1.22+).
pub fn capabilities_restricted(_meta: &Value, spec: &Value) -> Verdict {
    let mut missing_drop = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden = BTreeSet::new();
    for c in containers(spec) {
        if !security(c, "capabilities").is_some_and(|v| !v.is_null()) {
            missing_drop.push(name(c));
            continue;
        }
        if !capabilities(c, "drop").any(|cap| cap == "ALL") {
            missing_drop.push(name(c));
        }
        let mut added = false;
        for cap in capabilities(c, "add").filter(|cap| *cap != "NET_BIND_SERVICE") {
            added = true;
            forbidden.insert(cap);
        }
        if added {
            adding.push(name(c));
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        let forbidden: Vec<&str> = forbidden.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&forbidden)
        ));
    }
    (!details.is_empty()).then(|| Violation::new("unrestricted capabilities", details.join("; ")))
}

/// [`capabilities_restricted`] with Windows pods exempt (v1.25+).
pub fn capabilities_restricted_unless_windows(meta: &Value, spec: &Value) -> Verdict {
    if is_windows(spec) {
        return None;
    }
    capabilities_restricted(meta, spec)
}

/// Every container must set `allowPrivilegeEscalation: false` (v1.8+).
pub fn allow_privilege_escalation(_meta: &Value, spec: &Value) -> Verdict {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| security_bool(c, "allowPrivilegeEscalation") != Some(false))
        .map(name)
        .collect();
    (!bad.is_empty()).then(|| {
        let detail = format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        );
        Violation::new("allowPrivilegeEscalation != false", detail)
    })
}

/// [`allow_privilege_escalation`] with Windows pods exempt (v1.25+).
pub fn allow_privilege_escalation_unless_windows(meta: &Value, spec: &Value) -> Verdict {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admission::pod_security::violation::test_text as detail;
    use serde_json::json;

    fn with(sc: Value) -> Value {
        json!({"containers": [{"name": "a", "securityContext": sc}, {"name": "b"}]})
    }

    #[test]
    fn privileged_containers_are_named() {
        let spec = with(json!({"privileged": true}));
        assert_eq!(
            detail(privileged(&json!({}), &spec)),
            "privileged: container \"a\" must not set securityContext.privileged=true"
        );
        assert_eq!(
            privileged(&json!({}), &with(json!({"privileged": false}))),
            None
        );
    }

    #[test]
    fn baseline_allows_the_default_set_only() {
        let ok = with(json!({"capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE"]}}));
        assert_eq!(capabilities_baseline(&json!({}), &ok), None);
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["NET_RAW"]}}}]});
        assert_eq!(
            detail(capabilities_baseline(&json!({}), &spec)),
            "non-default capabilities: containers \"a\", \"b\" must not include \"NET_RAW\", \"SYS_ADMIN\" in securityContext.capabilities.add"
        );
    }

    #[test]
    fn restricted_needs_drop_all_and_only_net_bind_service() {
        let m = json!({});
        let ok = json!({"containers": [{"name": "a", "securityContext":
            {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]});
        assert_eq!(capabilities_restricted(&m, &ok), None);
        let spec = json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}},
            {"name": "b"}]});
        assert_eq!(
            detail(capabilities_restricted(&m, &spec)),
            "unrestricted capabilities: container \"b\" must set securityContext.capabilities.drop=[\"ALL\"]; \
             container \"a\" must not include \"CHOWN\" in securityContext.capabilities.add"
        );
        let windows = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_eq!(capabilities_restricted_unless_windows(&m, &windows), None);
        assert!(capabilities_restricted(&m, &windows).is_some());
    }

    #[test]
    fn privilege_escalation_must_be_false() {
        let m = json!({});
        let spec = with(json!({"allowPrivilegeEscalation": true}));
        assert_eq!(
            detail(allow_privilege_escalation(&m, &spec)),
            "allowPrivilegeEscalation != false: containers \"a\", \"b\" must set securityContext.allowPrivilegeEscalation=false"
        );
        let ok = json!({"containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false}}]});
        assert_eq!(allow_privilege_escalation(&m, &ok), None);
    }
}
