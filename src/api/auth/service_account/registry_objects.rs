//! The registry as the source of the objects a token names.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{BoundKind, BoundObjects, Existing};
use crate::api::registry::Registry;
use crate::resources::{node, pod, secret, serviceaccount, ResourceType};

#[derive(Deserialize)]
struct Stored {
    metadata: StoredMeta,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMeta {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    deletion_timestamp: Option<String>,
}

/// Reads only the uid and deletion time, not the whole object: this runs on every request
/// a token authenticates.
fn existing(
    registry: &Registry,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Option<Existing> {
    let object = registry.lookup(rt, namespace, name)?;
    let stored: Stored = object.read().ok()?;
    let deletion = stored
        .metadata
        .deletion_timestamp
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    Some(Existing {
        uid: stored.metadata.uid,
        deletion,
    })
}

impl BoundObjects for Registry {
    fn service_account(&self, namespace: &str, name: &str) -> Option<Existing> {
        existing(self, &serviceaccount::RESOURCE, namespace, name)
    }

    fn bound(&self, kind: BoundKind, namespace: &str, name: &str) -> Option<Existing> {
        match kind {
            BoundKind::Pod => existing(self, &pod::RESOURCE, namespace, name),
            BoundKind::Secret => existing(self, &secret::RESOURCE, namespace, name),
            BoundKind::Node => existing(self, &node::RESOURCE, "", name),
        }
    }
}
