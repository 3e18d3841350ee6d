//! Expires Events an hour after they were last seen, as kube-apiserver's `--event-ttl` does.
//! Events live only in memory, so without this a busy cluster's memory would grow forever.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde::Deserialize;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{Informer, Informers, Key};
use crate::client::options::DeleteOptions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::event;

/// How long an Event is kept after it was last seen (upstream's default `--event-ttl`).
pub const EVENT_TTL: Duration = Duration::from_secs(3600);

/// What the controller reads of an Event: its metadata and when it was last seen. The rest
/// of each Event is skipped when read, so following every Event costs little.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTimes {
    #[serde(default)]
    metadata: ObjectMeta,
    last_timestamp: Option<Time>,
    event_time: Option<MicroTime>,
}

impl k8s_openapi::Resource for EventTimes {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Event";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "events";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for EventTimes {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Deletes expired Events.
pub struct EventTtlController<C: Client> {
    client: C,
    events: Informer<EventTimes>,
    /// How long an Event lives after it was last seen.
    ttl: Duration,
}

/// When `ev` was last seen: `lastTimestamp`, `eventTime` or its creation.
fn last_seen(ev: &EventTimes) -> Option<DateTime<Utc>> {
    ev.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| ev.event_time.as_ref().map(|t| t.0))
        .or_else(|| ev.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

impl<C: Client> EventTtlController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>, ttl: Duration) -> Wired<Self, EventTimes> {
        let events = informers.get::<EventTimes>()?;
        Ok((
            EventTtlController {
                client: informers.client().clone(),
                events: events.clone(),
                ttl,
            },
            events,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the events have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let events = self.events.clone();
        async move { events.wait_synced().await }
    }
}

impl<C: Client> Controller for EventTtlController<C> {
    type Kind = EventTimes;

    fn name(&self) -> &'static str {
        "event-ttl-controller"
    }

    async fn reconcile(&self, ev: Arc<EventTimes>) -> Result<Action, ApiError> {
        let Some(seen) = last_seen(&ev) else {
            return Ok(Action::Done);
        };
        let age = (Utc::now() - seen).to_std().unwrap_or_default();
        if age < self.ttl {
            return Ok(Action::RequeueAfter(self.ttl - age));
        }
        let ns = ev.metadata.namespace.as_deref().unwrap_or("default");
        let name = ev.metadata.name.as_deref().unwrap_or_default();
        match self
            .client
            .delete(&event::RESOURCE, ns, name, &DeleteOptions::default())
            .await
        {
            Ok(()) => Ok(Action::Done),
            Err(e) if e.code == 404 => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }

    fn forget(&self, _key: &Key) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> EventTimes {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn last_seen_prefers_last_timestamp() {
        let ev = event(
            json!({"lastTimestamp": "2026-01-01T00:10:00Z", "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}),
        );
        assert_eq!(
            last_seen(&ev).unwrap().to_rfc3339(),
            "2026-01-01T00:10:00+00:00"
        );
        let ev = event(json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}));
        assert_eq!(
            last_seen(&ev).unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(last_seen(&event(json!({}))).is_none());
    }

    /// Events are read as [`EventTimes`] from the store: an expired one is deleted, a fresh
    /// one is asked about again when it would expire.
    #[tokio::test]
    async fn expired_events_are_deleted_and_fresh_ones_kept() {
        use crate::client::LocalClient;
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let ns = json!({"metadata": {"name": "default"}});
        let namespaces = crate::resources::lookup_kind("v1", "Namespace").unwrap();
        client.create(namespaces, "", ns).await.unwrap();
        let ago = |secs: i64| (Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339();
        for (name, seen) in [("old", ago(7200)), ("fresh", ago(60))] {
            let ev = json!({"metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                "reason": "Scheduled", "message": "m", "type": "Normal",
                "lastTimestamp": seen});
            client
                .create(&event::RESOURCE, "default", ev)
                .await
                .unwrap();
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        let (ttl, events, _) = EventTtlController::new(&informers, EVENT_TTL).unwrap();
        ttl.ready().await;
        let old = events.get("default", "old").unwrap();
        assert!(matches!(ttl.reconcile(old).await.unwrap(), Action::Done));
        let fresh = events.get("default", "fresh").unwrap();
        match ttl.reconcile(fresh).await.unwrap() {
            Action::RequeueAfter(d) => assert!(d > Duration::from_secs(3400) && d <= EVENT_TTL),
            other => panic!("a fresh event should be looked at again later, not {other:?}"),
        }
        let gone = client.get(&event::RESOURCE, "default", "old").await;
        assert_eq!(gone.unwrap_err().code, 404);
        assert!(client
            .get(&event::RESOURCE, "default", "fresh")
            .await
            .is_ok());
        shutdown.cancel();
        informers.stopped().await;
    }
}
