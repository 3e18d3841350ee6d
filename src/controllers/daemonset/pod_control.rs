//! Creating and deleting daemon pods, as upstream's `syncNodes`: at most
//! [`BURST_REPLICAS`] of each per sync, counted in the expectations first; pods are made
//! from the template with the current `controller-revision-hash` and template generation
//! labels and the daemon tolerations, pinned to their node through required node affinity
//! so the default scheduler binds them, and created in slow-start batches (1, 2, 4, ...)
//! that stop at the first failure.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use serde_json::Value;

use super::eligibility::{add_daemon_tolerations, pin_to_node};
use super::history::{owner, REVISION_HASH};
use super::placement::{template_generation, TEMPLATE_GENERATION_LABEL};
use super::DaemonSetController;
use crate::client::events;
use crate::client::informer::key_of;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pod_control::{Batches, PodControl};
use crate::controllers::pods;

/// At most this many pods are created or deleted in one sync (upstream's DaemonSet
/// `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;

/// The template of the set's pods for `hash` (upstream's `CreatePodTemplate`).
pub fn pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut t = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    add_daemon_tolerations(t.spec.get_or_insert_with(Default::default));
    let labels = t
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(REVISION_HASH.into(), hash.into());
    }
    t
}

/// The pod for `node` from `template`.
pub fn pod_for(ds: &DaemonSet, template: &PodTemplateSpec, node: &str) -> Value {
    let mut t = template.clone();
    pin_to_node(t.spec.get_or_insert_with(Default::default), node);
    let (ns, name) = key_of(ds);
    pods::from_template(&t, &ns, &name, owner(ds))
}

/// Deletes `delete` and creates a pod on each of `create_on`.
pub(super) async fn sync_nodes<C: Client>(
    c: &DaemonSetController<C>,
    ds: &DaemonSet,
    delete: &[Arc<Pod>],
    create_on: &[String],
    hash: &str,
) -> Result<(), ApiError> {
    let key = key_of(ds);
    let owner = events::reference(ds);
    let control = PodControl::new(&c.client, &c.events, &c.expectations, &key, &owner);
    let create_on = &create_on[..create_on.len().min(BURST_REPLICAS)];
    let delete = &delete[..delete.len().min(BURST_REPLICAS)];
    c.expectations.expect(&key, create_on.len(), delete.len());
    let mut failure = None;
    if !create_on.is_empty() {
        let template = pod_template(ds, hash);
        let pods = create_on
            .iter()
            .map(|node| pod_for(ds, &template, node))
            .collect();
        failure = control.create(&key.0, pods, Batches::SlowStart).await.err();
    }
    let deleted = control.delete(delete).await;
    match failure {
        Some(e) => Err(e),
        None => deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_carry_the_revision_the_tolerations_and_a_pin_to_their_node() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "u1",
                "annotations": {"deprecated.daemonset.template.generation": "3"}},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        }))
        .unwrap();
        let template = pod_template(&ds, "h1");
        let p = pod_for(&ds, &template, "board-2");
        assert_eq!(p["metadata"]["generateName"], "agent-");
        assert_eq!(p["metadata"]["namespace"], "kube-system");
        assert_eq!(
            p["metadata"]["labels"],
            json!({"app": "a", REVISION_HASH: "h1", TEMPLATE_GENERATION_LABEL: "3"})
        );
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["uid"].as_str()),
            (Some("DaemonSet"), Some("u1"))
        );
        assert_eq!(
            (&owner["controller"], &owner["blockOwnerDeletion"]),
            (&json!(true), &json!(true))
        );
        assert!(p["spec"].get("nodeName").is_none());
        assert_eq!(
            p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"],
            json!(["board-2"])
        );
        assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(6));
    }
}
