//! What the storage task reads from and writes to its own Node: the labels a class's
//! `allowedTopologies` are matched against, and the free-space annotations the scheduler
//! and binder read (ADR 004).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::provisioner::{ProvisionError, Provisioner};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::Client;
use crate::resources::node;

impl<C: Client> Provisioner<C> {
    /// Whether this node satisfies the class's `allowedTopologies` (terms ORed, expressions
    /// ANDed, as upstream's `TopologySelectorTerm`); no terms allow every node.
    pub(super) async fn allowed_here(&self, class: &Value) -> Result<bool, ProvisionError> {
        let Some(terms) = class["allowedTopologies"]
            .as_array()
            .filter(|t| !t.is_empty())
        else {
            return Ok(true);
        };
        let node = self
            .client
            .get(&node::RESOURCE, "", &self.node)
            .await
            .map_err(|e| ProvisionError::Api(e.message))?;
        let labels = &node["metadata"]["labels"];
        Ok(terms.iter().any(|term| {
            term["matchLabelExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|e| {
                    let key = e["key"].as_str().unwrap_or("");
                    e["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| Some(v) == labels.get(key))
                })
        }))
    }

    /// Patches the node's free-space annotations when they changed enough to matter
    /// ([`worth_publishing`]), so a board's own logs and images do not rewrite its Node every
    /// minute.
    pub(super) async fn publish_free(&self, published: &mut BTreeMap<String, String>) {
        let storage = self.storage.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || storage.free_annotations()).await else {
            return;
        };
        if !worth_publishing(published, &now) {
            return;
        }
        let patch = json!({"metadata": {"annotations": now}});
        match self
            .client
            .patch(
                &node::RESOURCE,
                "",
                &self.node,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await
        {
            Ok(_) => *published = now,
            Err(e) => tracing::warn!(error = %e, "could not publish storage free space"),
        }
    }
}

/// Whether free space moved far enough from what the Node shows: by at least 1 % of the
/// figure shown or 1 MiB, whichever is more, or a kind of storage appeared or went. Near a
/// full disk 1 % is a few megabytes, so the scheduler's view stays accurate where it counts.
fn worth_publishing(shown: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> bool {
    if shown.len() != now.len() || shown.keys().ne(now.keys()) {
        return true;
    }
    shown.iter().zip(now.values()).any(|((_, old), new)| {
        match (old.parse::<u64>(), new.parse::<u64>()) {
            (Ok(old), Ok(new)) => old.abs_diff(new) >= (old / 100).max(1 << 20),
            _ => old != new,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(path: u64) -> BTreeMap<String, String> {
        BTreeMap::from([(
            "storage.bramble.io/local-path-free-bytes".to_string(),
            path.to_string(),
        )])
    }

    #[test]
    fn small_drift_is_not_published_but_a_real_change_or_a_new_kind_is() {
        let gib = 1u64 << 30;
        assert!(worth_publishing(&BTreeMap::new(), &free(10 * gib)));
        assert!(!worth_publishing(
            &free(10 * gib),
            &free(10 * gib - (50 << 20))
        ));
        assert!(worth_publishing(
            &free(10 * gib),
            &free(10 * gib - (200 << 20))
        ));
        // near a full disk a few megabytes count
        assert!(worth_publishing(&free(200 << 20), &free(197 << 20)));
        assert!(!worth_publishing(
            &free(200 << 20),
            &free((200 << 20) - 4096)
        ));
        let mut both = free(gib);
        both.insert(
            "storage.bramble.io/local-disk-free-bytes".into(),
            gib.to_string(),
        );
        assert!(worth_publishing(&free(gib), &both));
    }
}
