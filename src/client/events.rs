//! Records `core/v1` Events about objects, as client-go's event recorder does: a repeat of
//! the same reason and message on the same object bumps `count` and `lastTimestamp` instead
//! of creating another Event.

use serde_json::{json, Value};

use super::informer::Kind;
use super::Client;
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::resources::event;
use crate::resources::meta;

/// `obj` as an event's involved object: its kind, version and identifying metadata.
pub fn reference<K: Kind>(obj: &K) -> Value {
    let m = obj.metadata();
    json!({
        "apiVersion": K::API_VERSION,
        "kind": K::KIND,
        "metadata": {
            "name": m.name,
            "namespace": m.namespace,
            "uid": m.uid,
            "resourceVersion": m.resource_version,
        },
    })
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

/// Writes Events on behalf of one component (e.g. `default-scheduler`).
#[derive(Clone)]
pub struct EventRecorder<C: Client> {
    client: C,
    component: &'static str,
}

impl<C: Client> EventRecorder<C> {
    /// A recorder reporting as `component`.
    pub fn new(client: C, component: &'static str) -> Self {
        Self { client, component }
    }

    /// Records an event about `object`; failures are logged, never fatal.
    pub async fn record(
        &self,
        object: &Value,
        kind: EventType,
        reason: &str,
        action: &str,
        message: &str,
    ) {
        let namespace = meta::meta_str(object, "namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        let uid = meta::meta_str(object, "uid").unwrap_or("");
        let involved = json!({
            "kind": object["kind"],
            "apiVersion": object["apiVersion"],
            "namespace": meta::meta_str(object, "namespace"),
            "name": meta::name_of(object),
            "uid": uid,
            "resourceVersion": meta::meta_str(object, "resourceVersion"),
        });
        // One Event per (object, reason, message), named deterministically, as the
        // recorder's aggregation key does upstream.
        let name = format!(
            "{}.{:x}",
            meta::name_of(object),
            fingerprint(&[uid, reason, message])
        );
        let now = meta::now();
        if let Ok(existing) = self.client.get(&event::RESOURCE, namespace, &name).await {
            let count = existing["count"].as_i64().unwrap_or(1) + 1;
            let patch = json!({"count": count, "lastTimestamp": now});
            if let Err(e) = self
                .client
                .patch(
                    &event::RESOURCE,
                    namespace,
                    &name,
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await
            {
                tracing::debug!(error = %e, "could not update event");
            }
            return;
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": match kind { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.component,
            "action": action,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
        });
        if let Err(e) = self.client.create(&event::RESOURCE, namespace, ev).await {
            tracing::debug!(error = %e, "could not record event");
        }
    }
}

/// FNV-1a over the parts: stable across runs, unlike `DefaultHasher` promises.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
