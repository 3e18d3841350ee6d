//! Upstream's PodSecurity admission plugin (`k8s.io/pod-security-admission`, `admission.go`):
//! each namespace's `pod-security.kubernetes.io/` labels choose a Pod Security Standard
//! (privileged, baseline, restricted) per mode. `enforce` refuses a violating pod with 403
//! Forbidden (`violates PodSecurity "restricted:latest": …`); `warn` lets it in with a
//! `Warning` header (`would violate PodSecurity …`); `audit` logs it. Pods are checked on
//! create and on updates that change an image or add an ephemeral container. Namespace labels
//! are validated (422 on an invalid level or version), and raising a namespace's enforce
//! level warns about the existing pods that would now be refused. Namespaces and runtime
//! classes may be exempted by configuration; no namespace is exempt by default, as upstream.

pub mod host;
pub mod identity;
pub mod kernel;
pub mod policy;
pub mod privilege;
pub mod profiles;
pub mod registry;
pub mod violation;
pub mod volumes;

use std::collections::HashMap;

use serde_json::Value;

use crate::api::registry::{list, meta, Registry};
use crate::api::status::ApiError;
use crate::resources::{namespace, pod, ResourceType};
use crate::store::Paths;
use policy::{Level, LevelVersion, Policy, LABEL_PREFIX};

/// At most this many existing pods are checked when a namespace's enforce level changes.
const NAMESPACE_MAX_PODS_TO_CHECK: usize = 3000;

/// Cluster-wide settings, as upstream's `PodSecurityConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSecurityConfig {
    /// The policy of a namespace without labels (every mode `privileged:latest` by default).
    pub defaults: Policy,
    /// Namespaces whose pods are never checked.
    pub exempt_namespaces: Vec<String>,
    /// Runtime classes whose pods are never checked.
    pub exempt_runtime_classes: Vec<String>,
    /// Users whose pod requests are never checked (upstream's `exemptions.usernames`).
    pub exempt_users: Vec<String>,
}

/// Checks a pod or namespace about to be created (`old` is `None`) or replaced; returns the
/// warnings for the client or the refusal. `user` is who asks (`None`: the server itself).
pub fn review(
    registry: &Registry,
    cfg: &PodSecurityConfig,
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
    user: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    if !rt.group.is_empty() {
        return Ok(Vec::new());
    }
    if rt.plural == pod::RESOURCE.plural {
        if user.is_some_and(|u| cfg.exempt_users.iter().any(|e| e == u)) {
            return Ok(Vec::new());
        }
        review_pod(registry, cfg, obj, old)
    } else if rt.plural == namespace::RESOURCE.plural {
        review_namespace(registry, cfg, obj, old)
    } else {
        Ok(Vec::new())
    }
}

fn labels(obj: &Value) -> Option<&Value> {
    obj.pointer("/metadata/labels")
}

fn review_pod(
    registry: &Registry,
    cfg: &PodSecurityConfig,
    pod: &Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let ns = meta::meta_str(pod, "namespace").unwrap_or("");
    if cfg.exempt_namespaces.iter().any(|e| e == ns) {
        return Ok(Vec::new());
    }
    if old.is_some_and(|old| !significant_update(pod, old)) {
        return Ok(Vec::new());
    }
    let Some(namespace) = registry.lookup(&namespace::RESOURCE, "", ns) else {
        return Err(ApiError::internal(format!(
            "failed to lookup namespace \"{ns}\""
        )));
    };
    let (policy, errs) = policy::from_labels(labels(&namespace.value()), cfg.defaults);
    if errs.is_empty() && policy.fully_privileged() {
        return Ok(Vec::new());
    }
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let runtime_class = spec.get("runtimeClassName").and_then(Value::as_str);
    if runtime_class.is_some_and(|rc| cfg.exempt_runtime_classes.iter().any(|e| e == rc)) {
        return Ok(Vec::new());
    }
    let pod_meta = pod.get("metadata").unwrap_or(&Value::Null);
    let name = meta::name_of(pod);
    let mut results: HashMap<LevelVersion, Vec<violation::Violation>> = HashMap::new();
    let mut evaluate = |lv: LevelVersion| {
        results
            .entry(lv)
            .or_insert_with(|| registry::evaluate(lv, pod_meta, spec))
            .clone()
    };
    let enforced = evaluate(policy.enforce);
    if !enforced.is_empty() {
        return Err(ApiError::forbidden_on(
            &pod::RESOURCE,
            name,
            &format!(
                "violates PodSecurity \"{}\": {}",
                policy.enforce,
                registry::details(&enforced)
            ),
        ));
    }
    let audited = evaluate(policy.audit);
    if !audited.is_empty() {
        tracing::info!(
            namespace = ns,
            pod = name,
            "would violate PodSecurity \"{}\": {}",
            policy.audit,
            registry::details(&audited)
        );
    }
    let warned = evaluate(policy.warn);
    Ok(if warned.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "would violate PodSecurity \"{}\": {}",
            policy.warn,
            registry::details(&warned)
        )]
    })
}

/// Whether a pod update can change what the checks see: the pod spec is immutable but for
/// images and added ephemeral containers (upstream's `isSignificantPodUpdate`).
fn significant_update(new: &Value, old: &Value) -> bool {
    let list = |pod: &Value, field: &str| -> Vec<Value> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let image = |c: &Value| c.get("image").cloned();
    for field in ["containers", "initContainers"] {
        let (n, o) = (list(new, field), list(old, field));
        if n.len() != o.len() || n.iter().zip(&o).any(|(n, o)| image(n) != image(o)) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(new, "ephemeralContainers").iter().any(|c| {
        let before = old_ephemeral
            .iter()
            .find(|o| o.get("name") == c.get("name"));
        match before {
            None => true,
            Some(o) => image(o) != image(c),
        }
    })
}

fn review_namespace(
    registry: &Registry,
    cfg: &PodSecurityConfig,
    ns: &Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let name = meta::name_of(ns);
    let (policy, errs) = policy::from_labels(labels(ns), cfg.defaults);
    // A new namespace only needs valid labels. (kube-apiserver's attributes carry no
    // namespace on a create of a Namespace, so the exemption warning is for updates only.)
    let Some(old) = old else {
        if !errs.is_empty() {
            return Err(ApiError::invalid(&namespace::RESOURCE, name, &errs));
        }
        return Ok(Vec::new());
    };
    let (old_policy, old_errs) = policy::from_labels(labels(old), cfg.defaults);
    // Labels that were already invalid may stay so; new mistakes are refused.
    if !errs.is_empty() && (old_errs.is_empty() || errs != old_errs) {
        return Err(ApiError::invalid(&namespace::RESOURCE, name, &errs));
    }
    let (new_enforce, old_enforce) = (policy.enforce, old_policy.enforce);
    if new_enforce == old_enforce
        || new_enforce.level == Level::Privileged
        || (new_enforce.version == old_enforce.version && new_enforce.level <= old_enforce.level)
    {
        return Ok(Vec::new());
    }
    if cfg.exempt_namespaces.iter().any(|e| e == name) {
        return Ok(exempt_namespace_warning(cfg, name, &policy, labels(ns))
            .into_iter()
            .collect());
    }
    Ok(existing_pod_warnings(registry, cfg, name, new_enforce))
}

/// Warnings for the existing pods of `ns` that `enforce` would refuse, grouped by their
/// reasons (upstream's `EvaluatePodsInNamespace`).
fn existing_pod_warnings(
    registry: &Registry,
    cfg: &PodSecurityConfig,
    ns: &str,
    enforce: LevelVersion,
) -> Vec<String> {
    let (objects, _) = registry
        .store()
        .list(&list::prefix(&pod::RESOURCE, Some(ns)));
    let exempt = |p: &Value| {
        let rc = p.pointer("/spec/runtimeClassName").and_then(Value::as_str);
        rc.is_some_and(|rc| cfg.exempt_runtime_classes.iter().any(|e| e == rc))
    };
    let mut runtime_class = Paths::new();
    runtime_class.add("spec.runtimeClassName");
    let mut total = 0usize;
    // reason list -> (lexically first pod, number of pods)
    let mut by_reasons: Vec<(String, String, usize)> = Vec::new();
    // One pod parsed at a time; past the ones checked, only their runtime class is read.
    for o in &objects {
        if total >= NAMESPACE_MAX_PODS_TO_CHECK {
            if !exempt(&o.pruned(&runtime_class)) {
                total += 1;
            }
            continue;
        }
        let p = o.value();
        if exempt(&p) {
            continue;
        }
        total += 1;
        let spec = p.get("spec").unwrap_or(&Value::Null);
        let found = registry::evaluate(enforce, p.get("metadata").unwrap_or(&Value::Null), spec);
        if found.is_empty() {
            continue;
        }
        let reasons = registry::reasons(&found);
        let pod_name = meta::name_of(&p).to_string();
        match by_reasons.iter_mut().find(|(r, _, _)| *r == reasons) {
            Some((_, first, count)) => {
                *count += 1;
                if pod_name < *first {
                    *first = pod_name;
                }
            }
            None => by_reasons.push((reasons, pod_name, 1)),
        }
    }
    let mut warnings = Vec::new();
    let checked = total.min(NAMESPACE_MAX_PODS_TO_CHECK);
    if checked < total {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
        ));
    }
    if !by_reasons.is_empty() {
        warnings.push(format!(
            "existing pods in namespace \"{ns}\" violate the new PodSecurity enforce level \"{enforce}\""
        ));
    }
    let mut per_pod: Vec<String> = by_reasons
        .into_iter()
        .map(|(reasons, first, count)| match count {
            1 => format!("{first}: {reasons}"),
            2 => format!("{first} (and 1 other pod): {reasons}"),
            n => format!(
                "{first} (and {} other pods): {reasons}",
                n.saturating_sub(1)
            ),
        })
        .collect();
    per_pod.sort();
    warnings.extend(per_pod);
    warnings
}

/// The warning for labels on an exempt namespace that will be ignored, naming the modes
/// explicitly set to something other than privileged.
fn exempt_namespace_warning(
    cfg: &PodSecurityConfig,
    name: &str,
    policy: &Policy,
    labels: Option<&Value>,
) -> Option<String> {
    if policy.fully_privileged() || policy.equivalent(&cfg.defaults) {
        return None;
    }
    let has = |mode: &str| {
        labels.is_some_and(|l| {
            l.get(format!("{LABEL_PREFIX}{mode}")).is_some()
                || l.get(format!("{LABEL_PREFIX}{mode}-version")).is_some()
        })
    };
    let parts: Vec<String> = [
        ("enforce", policy.enforce),
        ("audit", policy.audit),
        ("warn", policy.warn),
    ]
    .into_iter()
    .filter(|(mode, lv)| lv.level != Level::Privileged && has(mode))
    .map(|(mode, lv)| format!("{mode}={lv}"))
    .collect();
    Some(format!(
        "namespace \"{name}\" is exempt from Pod Security, and the policy ({}) will be ignored",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_image_changes_and_new_ephemeral_containers_are_significant() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a:1"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}});
        let mut relabelled = old.clone();
        relabelled["metadata"] = json!({"labels": {"x": "y"}});
        assert!(!significant_update(&relabelled, &old));
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("a:2");
        assert!(significant_update(&image, &old));
        let mut debug = old.clone();
        debug["spec"]["ephemeralContainers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug2", "image": "busybox"}));
        assert!(significant_update(&debug, &old));
    }

    #[test]
    fn exempt_namespace_warning_names_the_modes_set() {
        let cfg = PodSecurityConfig::default();
        let labels = json!({"pod-security.kubernetes.io/warn": "baseline",
            "pod-security.kubernetes.io/audit-version": "v1.30"});
        let (policy, _) = policy::from_labels(Some(&labels), cfg.defaults);
        assert_eq!(
            exempt_namespace_warning(&cfg, "infra", &policy, Some(&labels)).as_deref(),
            Some("namespace \"infra\" is exempt from Pod Security, and the policy (warn=baseline:latest) will be ignored")
        );
        let privileged = json!({"pod-security.kubernetes.io/enforce": "privileged"});
        let (policy, _) = policy::from_labels(Some(&privileged), cfg.defaults);
        assert_eq!(
            exempt_namespace_warning(&cfg, "infra", &policy, Some(&privileged)),
            None
        );
    }

    #[tokio::test]
    async fn exempt_runtime_classes_namespaces_and_users_skip_the_checks() {
        use crate::api::registry::WriteOptions;
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(crate::store::Store::open(dir.path(), 64).unwrap());
        for ns in ["apps", "infra"] {
            let obj = json!({"metadata": {"name": ns,
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}});
            let opts = WriteOptions::default();
            registry
                .create(&namespace::RESOURCE, "", obj, &opts)
                .await
                .unwrap();
        }
        let cfg = PodSecurityConfig {
            exempt_namespaces: vec!["infra".into()],
            exempt_runtime_classes: vec!["kata".into()],
            exempt_users: vec!["ci-deployer".into()],
            ..PodSecurityConfig::default()
        };
        let pod = |ns: &str, runtime_class: Option<&str>| {
            json!({"metadata": {"name": "p", "namespace": ns}, "spec": {
                "runtimeClassName": runtime_class, "hostPID": true,
                "containers": [{"name": "c", "image": "x"}]}})
        };
        let rt = &pod::RESOURCE;
        let refused = review(&registry, &cfg, rt, &pod("apps", None), None, None).unwrap_err();
        assert_eq!(
            refused.message,
            "pods \"p\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true)"
        );
        assert_eq!(refused.code, 403);
        assert!(
            review(&registry, &cfg, rt, &pod("apps", Some("kata")), None, None)
                .unwrap()
                .is_empty()
        );
        assert!(review(&registry, &cfg, rt, &pod("infra", None), None, None)
            .unwrap()
            .is_empty());
        assert!(review(
            &registry,
            &cfg,
            rt,
            &pod("apps", None),
            None,
            Some("ci-deployer")
        )
        .unwrap()
        .is_empty());
        assert!(review(&registry, &cfg, rt, &pod("apps", None), None, Some("alice")).is_err());
        // An update that leaves the images alone is not evaluated again.
        let mut relabelled = pod("apps", None);
        relabelled["metadata"]["labels"] = json!({"a": "b"});
        let old = pod("apps", None);
        assert!(review(&registry, &cfg, rt, &relabelled, Some(&old), None)
            .unwrap()
            .is_empty());
    }
}
