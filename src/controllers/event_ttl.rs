//! Expires Events an hour after they were last seen, as kube-apiserver's `--event-ttl` does.
//! Events live only in memory, so without this a busy cluster's memory would grow forever.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Action, Reconciler};
use crate::client::options::DeleteOptions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::event;
use crate::resources::meta;

/// How long an Event is kept after it was last seen (upstream's default `--event-ttl`).
pub const EVENT_TTL: Duration = Duration::from_secs(3600);

/// Deletes expired Events.
pub struct EventTtlController {
    /// How long an Event lives after it was last seen.
    pub ttl: Duration,
}

/// When `ev` was last seen: `lastTimestamp`, `eventTime` or its creation.
fn last_seen(ev: &Value) -> Option<DateTime<Utc>> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| ev.pointer(p).and_then(Value::as_str))
    .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
    .map(|t| t.with_timezone(&Utc))
}

impl<C: Client> Reconciler<C> for EventTtlController {
    type Kind = k8s_openapi::api::core::v1::Event;

    fn name(&self) -> &'static str {
        "event-ttl-controller"
    }

    async fn reconcile(&self, client: &C, ev: &Value) -> Result<Action, ApiError> {
        let Some(seen) = last_seen(ev) else {
            return Ok(Action::Done);
        };
        let age = (Utc::now() - seen).to_std().unwrap_or_default();
        if age < self.ttl {
            return Ok(Action::RequeueAfter(self.ttl - age));
        }
        let ns = meta::meta_str(ev, "namespace").unwrap_or("default");
        match client
            .delete(
                &event::RESOURCE,
                ns,
                meta::name_of(ev),
                &DeleteOptions::default(),
            )
            .await
        {
            Ok(()) => Ok(Action::Done),
            Err(e) if e.code == 404 => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_seen_prefers_last_timestamp() {
        let ev = json!({"lastTimestamp": "2026-01-01T00:10:00Z", "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            last_seen(&ev).unwrap().to_rfc3339(),
            "2026-01-01T00:10:00+00:00"
        );
        let ev = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            last_seen(&ev).unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(last_seen(&json!({})).is_none());
    }
}
