//! Watch: store events filtered through the request's selectors, with upstream's
//! translation of "started/stopped matching" into ADDED/DELETED, and bookmarks.

use serde_json::{json, Value};

use super::list::{prefix, Filter};
use super::Registry;
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::{EventType, Watch, WatchEnd};

/// Watch query parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// `labelSelector`.
    pub label_selector: String,
    /// `fieldSelector`.
    pub field_selector: String,
    /// `resourceVersion`: empty or "0" start with the current objects.
    pub resource_version: String,
    /// `sendInitialEvents=true`: end the initial objects with a marked bookmark.
    pub send_initial_events: bool,
}

/// One event as sent to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// `ADDED`.
    Added(Value),
    /// `MODIFIED`.
    Modified(Value),
    /// `DELETED`.
    Deleted(Value),
    /// `BOOKMARK`: progress up to a revision.
    Bookmark(Value),
    /// `ERROR` with a Status; the stream ends after it.
    Error(Value),
}

impl WatchEvent {
    /// The upstream `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Added(_) => "ADDED",
            Self::Modified(_) => "MODIFIED",
            Self::Deleted(_) => "DELETED",
            Self::Bookmark(_) => "BOOKMARK",
            Self::Error(_) => "ERROR",
        }
    }

    /// The event's object.
    pub fn object(&self) -> &Value {
        match self {
            Self::Added(o)
            | Self::Modified(o)
            | Self::Deleted(o)
            | Self::Bookmark(o)
            | Self::Error(o) => o,
        }
    }
}

/// A filtered watch on one kind.
pub struct WatchStream {
    rt: &'static ResourceType,
    watch: Watch,
    filter: Filter,
    initial_pending: usize,
    initial_end: bool,
}

impl Registry {
    /// Starts a watch on `rt` (in `namespace`, or in all when `None`).
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &WatchOptions,
    ) -> Result<WatchStream, ApiError> {
        let filter = Filter::new(rt, &opts.label_selector, &opts.field_selector)?;
        let from =
            match opts.resource_version.as_str() {
                "" | "0" => None,
                rv => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?),
            };
        let prefix = prefix(rt, namespace);
        let watch = self
            .store
            .watch(prefix, from)
            .map_err(|too_old| ApiError::gone(from.unwrap_or_default(), too_old.oldest))?;
        let initial_pending = if from.is_none() {
            watch.backlog_len()
        } else {
            0
        };
        Ok(WatchStream {
            rt,
            watch,
            filter,
            initial_pending,
            initial_end: opts.send_initial_events,
        })
    }
}

impl WatchStream {
    /// The next event for the client; `None` when the watch must end (the client re-lists).
    pub async fn next(&mut self) -> Option<WatchEvent> {
        if self.initial_pending == 0 && self.initial_end {
            self.initial_end = false;
            let mut b = self.bookmark();
            if let WatchEvent::Bookmark(obj) = &mut b {
                obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            return Some(b);
        }
        loop {
            let event = match self.watch.next().await {
                Ok(e) => e,
                Err(WatchEnd::Lagged) => {
                    tracing::debug!(
                        resource = self.rt.plural,
                        "watcher fell behind; ending its watch"
                    );
                    return None;
                }
                Err(WatchEnd::Closed) => return None,
            };
            let initial = self.initial_pending > 0;
            if initial {
                self.initial_pending -= 1;
            }
            let now = self.filter.matches(&event.object.value);
            let before = event
                .previous
                .as_ref()
                .is_some_and(|p| self.filter.matches(&p.value));
            let object = event.object.value.clone();
            let out = match event.kind {
                EventType::Added if now => Some(WatchEvent::Added(object)),
                EventType::Modified if now && before => Some(WatchEvent::Modified(object)),
                EventType::Modified if now => Some(WatchEvent::Added(object)),
                EventType::Modified if before => Some(WatchEvent::Deleted(object)),
                EventType::Deleted if now || before => Some(WatchEvent::Deleted(object)),
                _ => None,
            };
            if let Some(out) = out {
                return Some(out);
            }
            if initial && self.initial_pending == 0 && self.initial_end {
                return Box::pin(self.next()).await;
            }
        }
    }

    /// A bookmark at the revision this watcher has fully seen.
    pub fn bookmark(&self) -> WatchEvent {
        WatchEvent::Bookmark(json!({
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version(),
            "metadata": {"resourceVersion": self.watch.progress().to_string()},
        }))
    }
}
