//! Checks on the security profiles a pod asks for, as upstream's `check_appArmorProfile.go`,
//! `check_seLinuxOptions.go`, `check_seccompProfile_baseline.go` and
//! `check_seccompProfile_restricted.go`: baseline refuses unconfined AppArmor and seccomp and
//! custom SELinux users, roles and types; restricted also requires a seccomp profile
//! (`RuntimeDefault` or `Localhost`) on the pod or on every container.

use std::collections::BTreeSet;

use serde_json::Value;

use super::violation::{containers, containers_phrase, go_quote, is_windows, join_quote, name};
use super::violation::{pluralize, security, unset, Verdict, Violation};

/// The deprecated per-container AppArmor annotation.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
/// The deprecated pod-wide seccomp annotation (checked before v1.19).
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
/// The deprecated per-container seccomp annotation (checked before v1.19).
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn annotations(meta: &Value) -> impl Iterator<Item = (&String, &str)> {
    meta.get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
}

fn allowed_profile_type(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

/// Who set a bad value: the pod's profile type at `path` and each container's, plus the values.
struct BadSetters<'a> {
    setters: Vec<String>,
    values: BTreeSet<&'a str>,
}

/// Pod and containers whose `securityContext.<path>` is set to a type `allowed` refuses;
/// also reports whether the pod-level one is set and allowed.
fn bad_profile_setters<'a>(
    spec: &'a Value,
    path: &str,
    allowed: fn(&str) -> bool,
) -> (BadSetters<'a>, bool) {
    let mut values = BTreeSet::new();
    let mut setters = Vec::new();
    let mut pod_ok = false;
    if let Some(profile) = security(spec, path).filter(|p| !unset(Some(p))) {
        let t = profile.get("type").and_then(Value::as_str).unwrap_or("");
        if allowed(t) {
            pod_ok = true;
        } else {
            setters.push("pod".to_string());
            values.insert(t);
        }
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(profile) = security(c, path).filter(|p| !unset(Some(p))) {
            let t = profile.get("type").and_then(Value::as_str).unwrap_or("");
            if !allowed(t) {
                bad.push(name(c));
                values.insert(t);
            }
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (BadSetters { setters, values }, pod_ok)
}

/// AppArmor profiles may only be `RuntimeDefault` or `Localhost` (fields) or `runtime/default`
/// or `localhost/*` (annotations).
pub fn apparmor(meta: &Value, spec: &Value) -> Verdict {
    let (mut bad, _) = bad_profile_setters(spec, "appArmorProfile", allowed_profile_type);
    let mut values: Vec<String> = bad.values.iter().map(|s| s.to_string()).collect();
    let mut forbidden: Vec<String> = annotations(meta)
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX)
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    if !forbidden.is_empty() {
        forbidden.sort();
        bad.setters
            .push(pluralize("annotation", "annotations", forbidden.len()).to_string());
        values.append(&mut forbidden);
    }
    (!bad.setters.is_empty()).then(|| {
        let reason = pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        );
        let detail = format!(
            "{} must not set AppArmor profile type to {}",
            bad.setters.join(" and "),
            join_quote(&values)
        );
        Violation::new(reason, detail)
    })
}

/// SELinux types allowed before v1.31.
pub const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
/// SELinux types allowed from v1.31.
pub const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// `seLinuxOptions` may set only an allowed type, never a user or role.
pub fn selinux(spec: &Value, allowed_types: &[&str]) -> Verdict {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |opts: &Value| {
        let field = |f: &str| opts.get(f).and_then(Value::as_str).unwrap_or("");
        let mut ok = true;
        if !allowed_types.contains(&field("type")) {
            ok = false;
            bad_types.insert(field("type").to_string());
        }
        if !field("user").is_empty() {
            ok = false;
            set_user = true;
        }
        if !field("role").is_empty() {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters = Vec::new();
    if let Some(opts) = security(spec, "seLinuxOptions").filter(|o| !unset(Some(o))) {
        if !valid(opts) {
            setters.push("pod".to_string());
        }
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(opts) = security(c, "seLinuxOptions").filter(|o| !unset(Some(o))) {
            if !valid(opts) {
                bad.push(name(c));
            }
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        let mut data = Vec::new();
        if !bad_types.is_empty() {
            let types: Vec<String> = bad_types.into_iter().collect();
            data.push(format!(
                "{} {}",
                pluralize("type", "types", types.len()),
                join_quote(&types)
            ));
        }
        if set_user {
            data.push("user may not be set".to_string());
        }
        if set_role {
            data.push("role may not be set".to_string());
        }
        let detail = format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        );
        Violation::new("seLinuxOptions", detail)
    })
}

/// [`selinux`] with the types allowed before v1.31.
pub fn selinux_1_0(_meta: &Value, spec: &Value) -> Verdict {
    selinux(spec, SELINUX_TYPES_1_0)
}

/// [`selinux`] with the types allowed from v1.31.
pub fn selinux_1_31(_meta: &Value, spec: &Value) -> Verdict {
    selinux(spec, SELINUX_TYPES_1_31)
}

/// Before v1.19: the seccomp annotations may not ask for `unconfined`.
pub fn seccomp_baseline_annotations(meta: &Value, spec: &Value) -> Verdict {
    let valid =
        |v: &str| v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/");
    let notes: std::collections::HashMap<&str, &str> =
        annotations(meta).map(|(k, v)| (k.as_str(), v)).collect();
    let mut forbidden = BTreeSet::new();
    if let Some(v) = notes.get(SECCOMP_POD_ANNOTATION).filter(|v| !valid(v)) {
        forbidden.insert(format!("{SECCOMP_POD_ANNOTATION}={}", go_quote(v)));
    }
    for c in containers(spec) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", name(c));
        if let Some(v) = notes.get(key.as_str()).filter(|v| !valid(v)) {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    }
    (!forbidden.is_empty()).then(|| {
        let list: Vec<String> = forbidden.into_iter().collect();
        let detail = format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", list.len()),
            list.join(", ")
        );
        Violation::new("seccompProfile", detail)
    })
}

fn must_not_set_seccomp(bad: &BadSetters) -> Violation {
    let values: Vec<&str> = bad.values.iter().copied().collect();
    let detail = format!(
        "{} must not set securityContext.seccompProfile.type to {}",
        bad.setters.join(" and "),
        join_quote(&values)
    );
    Violation::new("seccompProfile", detail)
}

/// From v1.19: a seccomp profile, where set, must be `RuntimeDefault` or `Localhost`.
pub fn seccomp_baseline(_meta: &Value, spec: &Value) -> Verdict {
    let (bad, _) = bad_profile_setters(spec, "seccompProfile", allowed_profile_type);
    (!bad.setters.is_empty()).then(|| must_not_set_seccomp(&bad))
}

/// Restricted (v1.19+): as baseline, and every container must be covered by an allowed
/// profile of its own or of the pod.
pub fn seccomp_restricted(_meta: &Value, spec: &Value) -> Verdict {
    let (bad, pod_ok) = bad_profile_setters(spec, "seccompProfile", allowed_profile_type);
    if !bad.setters.is_empty() {
        return Some(must_not_set_seccomp(&bad));
    }
    let uncovered: Vec<&str> = containers(spec)
        .filter(|c| !pod_ok && unset(security(c, "seccompProfile")))
        .map(name)
        .collect();
    (!uncovered.is_empty()).then(|| {
        let detail = format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            containers_phrase(&uncovered)
        );
        Violation::new("seccompProfile", detail)
    })
}

/// [`seccomp_restricted`] with Windows pods exempt (v1.25+).
pub fn seccomp_restricted_unless_windows(meta: &Value, spec: &Value) -> Verdict {
    if is_windows(spec) {
        return None;
    }
    seccomp_restricted(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admission::pod_security::violation::test_text as detail;
    use serde_json::json;

    #[test]
    fn apparmor_fields_and_annotations() {
        let spec = json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}},
            "containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}}}]});
        assert_eq!(
            detail(apparmor(&json!({}), &spec)),
            "forbidden AppArmor profile: pod must not set AppArmor profile type to \"Unconfined\""
        );
        let meta = json!({"annotations": {
            "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/a": "runtime/default"}});
        let containers = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            detail(apparmor(&meta, &containers)),
            "forbidden AppArmor profile: annotation must not set AppArmor profile type to \
             \"container.apparmor.security.beta.kubernetes.io/b=\"unconfined\"\""
        );
    }

    #[test]
    fn apparmor_annotations_are_sorted_and_quoted() {
        let p = APPARMOR_ANNOTATION_PREFIX;
        let meta = json!({"annotations": {
            format!("{p}f"): "unknown", format!("{p}"): "bogus", format!("{p}a"): "",
            format!("{p}b"): "runtime/default", format!("{p}c"): "localhost/",
            format!("{p}e"): "unconfined"}});
        let v = apparmor(&meta, &json!({})).unwrap();
        assert_eq!(v.reason, "forbidden AppArmor profiles");
        assert_eq!(
            v.detail,
            format!(
                "annotations must not set AppArmor profile type to \"{p}=\"bogus\"\", \
                 \"{p}e=\"unconfined\"\", \"{p}f=\"unknown\"\""
            )
        );
    }

    #[test]
    fn selinux_type_user_role() {
        let spec = json!({"securityContext": {"seLinuxOptions": {"user": "root"}},
            "containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": "spc_t", "role": "r"}}},
                {"name": "b", "securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}]});
        assert_eq!(
            detail(selinux_1_31(&json!({}), &spec)),
            "seLinuxOptions: pod and container \"a\" set forbidden securityContext.seLinuxOptions: \
             type \"spc_t\"; user may not be set; role may not be set"
        );
        assert!(detail(selinux_1_0(&json!({}), &spec)).contains("containers \"a\", \"b\""));
        let ok = json!({"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"level": "s0:c1"}}}]});
        assert_eq!(selinux_1_31(&json!({}), &ok), None);
    }

    #[test]
    fn seccomp_baseline_refuses_unconfined_only() {
        let m = json!({});
        let spec = json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "a", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                {"name": "b"}]});
        assert_eq!(
            detail(seccomp_baseline(&m, &spec)),
            "seccompProfile: pod and container \"a\" must not set securityContext.seccompProfile.type to \"Unconfined\""
        );
        assert_eq!(
            seccomp_baseline(&m, &json!({"containers": [{"name": "a"}]})),
            None
        );
        let meta =
            json!({"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}});
        assert_eq!(
            detail(seccomp_baseline_annotations(&meta, &spec)),
            "seccompProfile: forbidden annotation seccomp.security.alpha.kubernetes.io/pod=\"unconfined\""
        );
    }

    #[test]
    fn seccomp_restricted_needs_pod_or_every_container() {
        let m = json!({});
        let pod_level = json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a"}]});
        assert_eq!(seccomp_restricted(&m, &pod_level), None);
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"},
            {"name": "c", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "x"}}}]});
        assert_eq!(
            detail(seccomp_restricted(&m, &spec)),
            "seccompProfile: pod or containers \"a\", \"b\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\""
        );
        let windows = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_eq!(seccomp_restricted_unless_windows(&m, &windows), None);
    }
}
