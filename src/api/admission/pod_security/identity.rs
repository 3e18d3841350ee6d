//! Restricted checks on the user a pod runs as, as upstream's `check_runAsNonRoot.go` and
//! `check_runAsUser.go`: `runAsNonRoot: true` on the pod or on every container, and never
//! `runAsUser: 0`. From v1.35 a pod in its own user namespace (`hostUsers: false`) is exempt,
//! since its root is not the host's.

use serde_json::Value;

use super::violation::{containers, containers_phrase, in_user_namespace, name};
use super::violation::{security, security_bool, Verdict, Violation};

/// `runAsNonRoot` must be true on the pod (and not false on a container) or on every container.
pub fn run_as_non_root(_meta: &Value, spec: &Value) -> Verdict {
    let mut setters = Vec::new();
    let mut pod_non_root = false;
    match security_bool(spec, "runAsNonRoot") {
        Some(false) => setters.push("pod".to_string()),
        Some(true) => pod_non_root = true,
        None => {}
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match security_bool(c, "runAsNonRoot") {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if !pod_non_root => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        let detail = format!(
            "{} must not set securityContext.runAsNonRoot=false",
            setters.join(" and ")
        );
        return Some(Violation::new("runAsNonRoot != true", detail));
    }
    (!implicit.is_empty()).then(|| {
        let detail = format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&implicit)
        );
        Violation::new("runAsNonRoot != true", detail)
    })
}

/// [`run_as_non_root`] with user-namespaced pods exempt (v1.35+).
pub fn run_as_non_root_1_35(meta: &Value, spec: &Value) -> Verdict {
    if in_user_namespace(spec) {
        return None;
    }
    run_as_non_root(meta, spec)
}

fn is_root(obj: &Value) -> bool {
    security(obj, "runAsUser").and_then(Value::as_i64) == Some(0)
}

/// Neither the pod nor a container may set `runAsUser: 0` (v1.23+).
pub fn run_as_user(_meta: &Value, spec: &Value) -> Verdict {
    let mut setters = Vec::new();
    if is_root(spec) {
        setters.push("pod".to_string());
    }
    let bad: Vec<&str> = containers(spec).filter(|c| is_root(c)).map(name).collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        let detail = format!("{} must not set runAsUser=0", setters.join(" and "));
        Violation::new("runAsUser=0", detail)
    })
}

/// [`run_as_user`] with user-namespaced pods exempt (v1.35+).
pub fn run_as_user_1_35(meta: &Value, spec: &Value) -> Verdict {
    if in_user_namespace(spec) {
        return None;
    }
    run_as_user(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admission::pod_security::violation::test_text as detail;
    use serde_json::json;

    #[test]
    fn run_as_non_root_explicit_and_implicit() {
        let m = json!({});
        let pod_true = json!({"securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "a"}]});
        assert_eq!(run_as_non_root(&m, &pod_true), None);
        let spec = json!({"securityContext": {"runAsNonRoot": false}, "containers": [
            {"name": "a", "securityContext": {"runAsNonRoot": false}}, {"name": "b"}]});
        assert_eq!(
            detail(run_as_non_root(&m, &spec)),
            "runAsNonRoot != true: pod and container \"a\" must not set securityContext.runAsNonRoot=false"
        );
        let implicit = json!({"containers": [{"name": "a"}, {"name": "b",
            "securityContext": {"runAsNonRoot": true}}]});
        assert_eq!(
            detail(run_as_non_root(&m, &implicit)),
            "runAsNonRoot != true: pod or container \"a\" must set securityContext.runAsNonRoot=true"
        );
        let userns = json!({"hostUsers": false, "containers": [{"name": "a"}]});
        assert_eq!(run_as_non_root_1_35(&m, &userns), None);
        assert!(run_as_non_root(&m, &userns).is_some());
    }

    #[test]
    fn run_as_user_zero() {
        let m = json!({});
        let spec = json!({"securityContext": {"runAsUser": 0}, "containers": [
            {"name": "a", "securityContext": {"runAsUser": 0}},
            {"name": "b", "securityContext": {"runAsUser": 1000}}]});
        assert_eq!(
            detail(run_as_user(&m, &spec)),
            "runAsUser=0: pod and container \"a\" must not set runAsUser=0"
        );
        assert_eq!(
            run_as_user(&m, &json!({"containers": [{"name": "a"}]})),
            None
        );
    }
}
