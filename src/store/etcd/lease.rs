//! The etcd lease Events are written with, so etcd deletes them after the event TTL
//! (kube-apiserver's `--event-ttl`). As kube-apiserver's lease manager does, one lease is
//! shared by the events written within a tenth of the TTL, and is granted for the TTL plus
//! that tenth, so every event lives at least the TTL and the cluster holds few leases.

use std::time::{Duration, Instant};

use serde_json::json;

use super::gateway::Gateway;
use super::wire::LeaseGrantResponse;
use crate::store::{ObjectKey, StoreError};

/// The lease events are written with now.
pub(super) struct EventLeases {
    ttl: Duration,
    current: tokio::sync::Mutex<Option<(u64, Instant)>>,
}

impl EventLeases {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// How long one lease is handed out.
    fn reuse(&self) -> Duration {
        self.ttl / 10
    }

    /// A lease for an event written now.
    pub(super) async fn get(&self, gateway: &Gateway) -> Result<u64, StoreError> {
        let mut current = self.current.lock().await;
        if let Some((id, granted)) = *current {
            if granted.elapsed() < self.reuse() {
                return Ok(id);
            }
        }
        let lifetime = self.ttl.saturating_add(self.reuse());
        let seconds = lifetime
            .as_secs()
            .saturating_add(u64::from(lifetime.subsec_nanos() > 0))
            .max(1);
        let granted = Instant::now();
        let answer: LeaseGrantResponse = gateway
            .call("/v3/lease/grant", &json!({"TTL": seconds.to_string()}))
            .await?;
        if !answer.error.is_empty() || answer.id == 0 {
            return Err(StoreError::Etcd {
                endpoint: gateway.url(gateway.current()).to_string(),
                code: 0,
                message: format!("granting a lease: {}", answer.error),
            });
        }
        *current = Some((answer.id, granted));
        Ok(answer.id)
    }

    /// Forgets the current lease (etcd no longer has it).
    pub(super) async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// Whether `key` holds an Event (core or `events.k8s.io`), which etcd expires.
pub(super) fn is_event(key: &ObjectKey) -> bool {
    let k = key.as_str();
    k.starts_with("o//events/") || k.starts_with("o/events.k8s.io/events/")
}
