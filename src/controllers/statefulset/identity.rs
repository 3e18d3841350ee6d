//! A StatefulSet pod's stable identity, as upstream's `stateful_set_utils.go`: pod `N` of
//! set `web` is named `web-N` (ordinals counted from `spec.ordinals.start`), its hostname is
//! its name and its subdomain the set's `serviceName`, it carries the `pod-name`,
//! `pod-index` and `controller-revision-hash` labels, and each `volumeClaimTemplates` entry
//! `data` becomes its volume `data` on the claim `data-web-N`, which carries the set's
//! selector labels so the claims can be found again.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use serde_json::{json, Value};

use crate::controllers::pods;

/// Label naming the pod itself, so a Service can select one member.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label holding the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Label holding the name of the ControllerRevision the pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The first ordinal (`spec.ordinals.start`, 0 when unset).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0)
}

/// The wanted number of pods (`spec.replicas`, 1 when unset).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

/// Whether `ordinal` is one the set wants (upstream's `podInOrdinalRange`).
pub fn in_range(set: &StatefulSet, ordinal: i32) -> bool {
    let start = start_ordinal(set);
    ordinal >= start && i64::from(ordinal) < i64::from(start) + i64::from(replicas(set))
}

/// The name of pod `ordinal` of the set `set_name`.
pub fn pod_name(set_name: &str, ordinal: i32) -> String {
    format!("{set_name}-{ordinal}")
}

/// The ordinal in `pod_name` if it names a pod of `set_name` (upstream's
/// `getParentNameAndOrdinal` compared with the set's name).
pub fn ordinal_of(set_name: &str, pod_name: &str) -> Option<i32> {
    let digits = pod_name.strip_prefix(set_name)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Upstream's pattern takes no sign and no leading zeros beyond "0" would print back
    // differently: only names that print back the same are members.
    let n: i32 = digits.parse().ok()?;
    (n.to_string() == digits).then_some(n)
}

/// The name of the claim `template_name` for pod `ordinal`.
pub fn claim_name(template_name: &str, set_name: &str, ordinal: i32) -> String {
    format!("{template_name}-{set_name}-{ordinal}")
}

/// The set's claim templates.
pub fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// The revision name a pod was made from.
pub fn revision_of(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .map(String::as_str)
}

/// Whether the pod carries the identity labels of `ordinal` (upstream's `identityMatches`
/// for what a pod may still change: hostname and subdomain are fixed once it exists).
pub fn identity_matches(p: &Pod, ordinal: i32) -> bool {
    let name = p.metadata.name.as_deref().unwrap_or_default();
    let labels = p.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    label(POD_NAME_LABEL) == Some(name)
        && label(POD_INDEX_LABEL) == Some(ordinal.to_string().as_str())
}

/// The labels [`identity_matches`] wants, for a patch that restores them.
pub fn identity_labels(name: &str, ordinal: i32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (POD_NAME_LABEL.to_string(), name.to_string()),
        (POD_INDEX_LABEL.to_string(), ordinal.to_string()),
    ])
}

/// Pod `ordinal` of `set`, made from `template` (the template of `revision`): upstream's
/// `newVersionedStatefulSetPod`.
pub fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ordinal: i32,
    revision: &str,
) -> Value {
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let owner = pods::owner_reference("apps/v1", "StatefulSet", set_name, uid);
    let mut pod = pods::from_template(template, ns, set_name, owner);
    let name = pod_name(set_name, ordinal);
    if let Some(meta) = pod["metadata"].as_object_mut() {
        meta.remove("generateName");
        meta.insert("name".into(), json!(name));
    }
    let mut labels = identity_labels(&name, ordinal);
    labels.insert(REVISION_LABEL.into(), revision.into());
    let labels_at = &mut pod["metadata"]["labels"];
    if !labels_at.is_object() {
        *labels_at = json!({});
    }
    for (k, v) in labels {
        labels_at[k] = json!(v);
    }
    pod["spec"]["hostname"] = json!(name);
    let service = set.spec.as_ref().map_or("", |s| s.service_name.as_str());
    if !service.is_empty() {
        pod["spec"]["subdomain"] = json!(service);
    }
    set_claim_volumes(set, &mut pod, ordinal);
    pod
}

/// Points the pod's volumes named after claim templates at the ordinal's claims, adding
/// them where missing (upstream's `updateStorage`).
fn set_claim_volumes(set: &StatefulSet, pod: &mut Value, ordinal: i32) {
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let templates = claim_templates(set);
    if templates.is_empty() {
        return;
    }
    let mut volumes: Vec<Value> = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in templates {
        let tname = t.metadata.name.as_deref().unwrap_or_default();
        let volume = json!({
            "name": tname,
            "persistentVolumeClaim": {"claimName": claim_name(tname, set_name, ordinal)},
        });
        match volumes.iter_mut().find(|v| v["name"] == tname) {
            Some(v) => *v = volume,
            None => volumes.push(volume),
        }
    }
    pod["spec"]["volumes"] = Value::Array(volumes);
}

/// The claim `template` asks for pod `ordinal` (upstream's `getPersistentVolumeClaims`):
/// the template's metadata and spec, named for the ordinal, labelled with the selector's
/// `matchLabels`. Its owners are set by the retention policy.
pub fn new_claim(set: &StatefulSet, template: &PersistentVolumeClaim, ordinal: i32) -> Value {
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let tname = template.metadata.name.as_deref().unwrap_or_default();
    let mut labels = template.metadata.labels.clone().unwrap_or_default();
    if let Some(m) = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
    {
        labels.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut claim = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(tname, set_name, ordinal),
            "namespace": set.metadata.namespace,
            "labels": labels,
        },
        "spec": template.spec,
    });
    if let Some(a) = template
        .metadata
        .annotations
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        claim["metadata"]["annotations"] = json!(a);
    }
    claim
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn set(extra: Value) -> StatefulSet {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "d", "uid": "u1"},
            "spec": {
                "serviceName": "svc", "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "box",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-disk",
                        "resources": {"requests": {"storage": "16Mi"}}}}],
            },
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ordinals_are_read_back_only_from_members_names() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        for other in [
            "web", "web-", "web-x", "web-01", "web-1-2", "webby-1", "we-1", "web--1",
        ] {
            assert_eq!(ordinal_of("web", other), None, "{other}");
        }
        assert_eq!(ordinal_of("web-1", "web-1-2"), Some(2));
        assert_eq!(ordinal_of("web", "web-99999999999"), None);
    }

    #[test]
    fn the_range_starts_at_spec_ordinals_start() {
        let s = set(json!({"ordinals": {"start": 5}, "replicas": 2}));
        assert_eq!(start_ordinal(&s), 5);
        assert!(!in_range(&s, 4) && in_range(&s, 5) && in_range(&s, 6) && !in_range(&s, 7));
        let s = set(json!({}));
        assert!(in_range(&s, 0) && in_range(&s, 2) && !in_range(&s, 3));
    }

    #[test]
    fn a_pod_from_the_template_carries_its_identity_and_claims() {
        let s = set(json!({}));
        let template = s.spec.as_ref().unwrap().template.clone();
        let v = new_pod(&s, &template, 2, "web-abc");
        assert_eq!(v["metadata"]["name"], "web-2");
        assert!(v["metadata"].get("generateName").is_none());
        assert_eq!(v["metadata"]["labels"]["app"], "web");
        assert_eq!(v["metadata"]["labels"][POD_NAME_LABEL], "web-2");
        assert_eq!(v["metadata"]["labels"][POD_INDEX_LABEL], "2");
        assert_eq!(v["metadata"]["labels"][REVISION_LABEL], "web-abc");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        assert_eq!(v["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            v["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert_eq!(v["spec"]["hostname"], "web-2");
        assert_eq!(v["spec"]["subdomain"], "svc");
        // The template's own volume named like the claim template is replaced by the claim.
        assert_eq!(
            v["spec"]["volumes"],
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}},
                {"name": "tmp", "emptyDir": {}}])
        );
        let p: Pod = serde_json::from_value(v).unwrap();
        assert!(identity_matches(&p, 2));
        assert!(!identity_matches(&p, 1));
        assert_eq!(revision_of(&p), Some("web-abc"));
    }

    #[test]
    fn a_claim_is_named_for_the_ordinal_and_labelled_with_the_selector() {
        let s = set(json!({}));
        let c = new_claim(&s, &claim_templates(&s)[0], 1);
        assert_eq!(c["metadata"]["name"], "data-web-1");
        assert_eq!(c["metadata"]["namespace"], "d");
        assert_eq!(c["metadata"]["labels"], json!({"app": "web", "tier": "db"}));
        assert_eq!(c["spec"]["storageClassName"], "local-disk");
        assert!(c["metadata"].get("ownerReferences").is_none());
    }
}
