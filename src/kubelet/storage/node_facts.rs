//! What the storage task reads from and writes to its own Node: the labels a class's
//! `allowedTopologies` are matched against, and the free-space annotations the scheduler
//! and binder read (ADR 004).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::provisioner::{ProvisionError, Provisioner};
use crate::api::patch::PatchType;
use crate::api::registry::Subresource;
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

    /// Patches the node's free-space annotations when they changed.
    pub(super) async fn publish_free(&self, published: &mut BTreeMap<String, String>) {
        let storage = self.storage.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || storage.free_annotations()).await else {
            return;
        };
        if &now == published {
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
