//! Watch: store events filtered through the request's selectors, with upstream's
//! translation of "started/stopped matching" into ADDED/DELETED, and bookmarks. Selectors
//! read only the members they test from each change; the object goes out as the store holds
//! it ([`RawEvent`]) and is parsed only for callers that want a `Value`.

use crate::client::options::{WatchEvent, WatchOptions};
use std::sync::Arc;

use serde_json::{json, Value};

use super::list::{prefix, Filter};
use super::Registry;
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::{EventType, Object, Watch, WatchEnd};

/// One event before its object is parsed: a change carries the object as stored.
#[derive(Debug, Clone)]
pub enum RawEvent {
    /// `ADDED`, `MODIFIED` or `DELETED` (the [`WatchEvent::type_name`]) of a stored object.
    Change(&'static str, Arc<Object>),
    /// `BOOKMARK`.
    Bookmark(Value),
}

impl RawEvent {
    /// The event with its object parsed.
    pub fn into_event(self) -> WatchEvent {
        match self {
            RawEvent::Change("ADDED", o) => WatchEvent::Added(o.value()),
            RawEvent::Change("MODIFIED", o) => WatchEvent::Modified(o.value()),
            RawEvent::Change(_, o) => WatchEvent::Deleted(o.value()),
            RawEvent::Bookmark(b) => WatchEvent::Bookmark(b),
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
        self.next_raw().await.map(RawEvent::into_event)
    }

    /// [`WatchStream::next`] with the object as stored, for responses that copy its JSON.
    pub async fn next_raw(&mut self) -> Option<RawEvent> {
        if self.initial_pending == 0 && self.initial_end {
            self.initial_end = false;
            let mut b = self.bookmark_object();
            b["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            return Some(RawEvent::Bookmark(b));
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
            let now = self.filter.matches_object(&event.object);
            // Only a change can stop matching; an unfiltered watch never asks.
            let before = !self.filter.is_empty()
                && event.kind == EventType::Modified
                && event
                    .previous
                    .as_ref()
                    .is_some_and(|p| self.filter.matches_object(p));
            let kind = match event.kind {
                EventType::Added if now => Some("ADDED"),
                EventType::Modified if now && (before || self.filter.is_empty()) => {
                    Some("MODIFIED")
                }
                EventType::Modified if now => Some("ADDED"),
                EventType::Modified if before => Some("DELETED"),
                EventType::Deleted if now || before => Some("DELETED"),
                _ => None,
            };
            if let Some(kind) = kind {
                return Some(RawEvent::Change(kind, event.object.clone()));
            }
            if initial && self.initial_pending == 0 && self.initial_end {
                return Box::pin(self.next_raw()).await;
            }
        }
    }

    /// A bookmark at the revision this watcher has fully seen.
    pub fn bookmark(&self) -> WatchEvent {
        WatchEvent::Bookmark(self.bookmark_object())
    }

    /// The object of [`WatchStream::bookmark`].
    pub fn bookmark_object(&self) -> Value {
        json!({
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version(),
            "metadata": {"resourceVersion": self.watch.progress().to_string()},
        })
    }
}
