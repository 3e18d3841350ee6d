//! Expires Events an hour after they were last seen, as kube-apiserver's `--event-ttl` does.
//! Events live only in memory, so without this a busy cluster's memory would grow forever.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;

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

/// Deletes expired Events.
pub struct EventTtlController<C: Client> {
    client: C,
    events: Informer<Event>,
    /// How long an Event lives after it was last seen.
    ttl: Duration,
}

/// When `ev` was last seen: `lastTimestamp`, `eventTime` or its creation.
fn last_seen(ev: &Event) -> Option<DateTime<Utc>> {
    ev.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| ev.event_time.as_ref().map(|t| t.0))
        .or_else(|| ev.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

impl<C: Client> EventTtlController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>, ttl: Duration) -> Wired<Self, Event> {
        let events = informers.get::<Event>()?;
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
    type Kind = Event;

    fn name(&self) -> &'static str {
        "event-ttl-controller"
    }

    async fn reconcile(&self, ev: Arc<Event>) -> Result<Action, ApiError> {
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

    fn event(v: serde_json::Value) -> Event {
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
}
