//! How a Deployment names and recognises the ReplicaSet of each template, as upstream's
//! deployment utilities: the `pod-template-hash` (an FNV-1a hash of the template and the
//! collision count, spelled in the alphabet upstream uses for generated names), a template
//! compared with a set's without that label, and the `deployment.kubernetes.io/revision`
//! annotation `kubectl rollout history|undo` read.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label that tells a Deployment's ReplicaSets (and their pods) apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation holding a ReplicaSet's revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The annotation holding the Deployment's replicas when the set was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The annotation holding replicas plus surge when the set was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Upstream's `SafeEncodeString` alphabet: no vowels, no look-alike characters.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `pod-template-hash` of `template` with `collisions` (the Deployment's
/// `status.collisionCount`).
pub fn template_hash(template: &PodTemplateSpec, collisions: i32) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes().chain(collisions.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| char::from(ALPHABET[usize::from(d) % ALPHABET.len()]))
        .collect()
}

/// Whether `set` runs `template` (its own template without the hash label).
pub fn runs_template(set: &ReplicaSet, template: &PodTemplateSpec) -> bool {
    let Some(mut theirs) = set.spec.as_ref().and_then(|s| s.template.clone()) else {
        return false;
    };
    if let Some(labels) = theirs.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let mut ours = template.clone();
    if let Some(labels) = ours.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    serde_json::to_value(&theirs).ok() == serde_json::to_value(&ours).ok()
}

/// A set's revision (0 when unset or unreadable).
pub fn revision_of(set: &ReplicaSet) -> i64 {
    set.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_hash_changes_with_the_template_and_collisions_only() {
        let a = template_hash(&template("nginx:1"), 0);
        assert_eq!(a, template_hash(&template("nginx:1"), 0));
        assert_ne!(a, template_hash(&template("nginx:2"), 0));
        assert_ne!(a, template_hash(&template("nginx:1"), 1));
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn a_set_runs_the_template_whatever_its_hash_label() {
        let mut set_template = template("nginx:1");
        set_template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), "abc".into());
        let set: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "annotations": {REVISION: "3"}},
            "spec": {"selector": {}, "template": set_template},
        }))
        .unwrap();
        assert!(runs_template(&set, &template("nginx:1")));
        assert!(!runs_template(&set, &template("nginx:2")));
        assert_eq!(revision_of(&set), 3);
    }
}
