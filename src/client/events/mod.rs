//! Records `core/v1` Events about objects, as client-go's event recorder does. Recording
//! never waits for the API: an event joins a bounded queue that one writer task per
//! recorder empties (a full queue drops the event, as upstream's broadcaster does), so a
//! controller creating thousands of pods is not held up by as many event writes. A repeat of
//! the same reason and message on the same object bumps `count` and `lastTimestamp` instead
//! of creating another Event, and a burst about one object is cut off as upstream's spam
//! filter cuts it ([`spam`]).

mod spam;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::informer::Kind;
use super::Client;
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::resources::event;
use crate::resources::meta;

/// Events waiting to be written, at most (upstream's `maxQueuedEvents`).
const QUEUE: usize = 1000;
/// Events the writer takes from the queue at once; different Events among them are written
/// side by side.
const BATCH: usize = 64;

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
pub struct EventRecorder<C: Client> {
    inner: Arc<Inner<C>>,
}

impl<C: Client> Clone for EventRecorder<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<C: Client> {
    client: C,
    component: &'static str,
    /// The writer's queue, made (and the writer started) by the first event.
    queue: OnceLock<Option<mpsc::Sender<Pending>>>,
    spam: Mutex<spam::Filter>,
}

/// One event as recorded, waiting to be written.
struct Pending {
    namespace: String,
    /// The Event's name, one per (object, reason, message).
    name: String,
    event: Value,
}

impl<C: Client> EventRecorder<C> {
    /// A recorder reporting as `component`.
    pub fn new(client: C, component: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                component,
                queue: OnceLock::new(),
                spam: Mutex::new(spam::Filter::default()),
            }),
        }
    }

    /// Records an event about `object` (as [`reference`] gives it, or an object's JSON). It
    /// is written in the background; failures are logged, never fatal.
    pub fn record(
        &self,
        object: &Value,
        kind: EventType,
        reason: &str,
        action: &str,
        message: &str,
    ) {
        let namespace = meta::meta_str(object, "namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let uid = meta::meta_str(object, "uid").unwrap_or("");
        let object_name = meta::name_of(object);
        let spam_key = format!(
            "{}/{}/{}/{}/{uid}",
            self.inner.component, object["kind"], namespace, object_name
        );
        let allowed = match self.inner.spam.lock() {
            Ok(mut filter) => filter.allow(&spam_key, std::time::Instant::now()),
            Err(_) => true,
        };
        if !allowed {
            tracing::debug!(reason, object = %object_name, "event dropped: too many about one object");
            return;
        }
        let now = meta::now();
        // One Event per (object, reason, message), named deterministically, as the
        // recorder's aggregation key does upstream.
        let name = format!("{object_name}.{:x}", fingerprint(&[uid, reason, message]));
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "kind": object["kind"],
                "apiVersion": object["apiVersion"],
                "namespace": meta::meta_str(object, "namespace"),
                "name": object_name,
                "uid": uid,
                "resourceVersion": meta::meta_str(object, "resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": match kind { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "source": {"component": self.inner.component},
            "reportingComponent": self.inner.component,
            "reportingInstance": self.inner.component,
            "action": action,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
        });
        let Some(queue) = self.queue() else {
            tracing::debug!(reason, "event dropped: no runtime to write it");
            return;
        };
        if queue
            .try_send(Pending {
                namespace,
                name,
                event,
            })
            .is_err()
        {
            tracing::debug!(reason, object = %object_name, "event dropped: the queue is full");
        }
    }

    /// The writer's queue; starts the writer on the current runtime the first time.
    fn queue(&self) -> Option<&mpsc::Sender<Pending>> {
        self.inner
            .queue
            .get_or_init(|| {
                let runtime = tokio::runtime::Handle::try_current().ok()?;
                let (tx, rx) = mpsc::channel(QUEUE);
                // The writer holds the client, not the recorder: it ends once every
                // recorder sharing this queue is gone.
                runtime.spawn(write_all(self.inner.client.clone(), rx));
                Some(tx)
            })
            .as_ref()
    }
}

/// Writes queued events until the queue closes: a batch at a time, different Events side by
/// side, repeats of one Event in order.
async fn write_all<C: Client>(client: C, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut by_name: HashMap<(String, String), Vec<Pending>> = HashMap::new();
        for p in batch.drain(..) {
            by_name
                .entry((p.namespace.clone(), p.name.clone()))
                .or_default()
                .push(p);
        }
        join_all(by_name.into_values().map(|repeats| {
            let client = &client;
            async move {
                for p in repeats {
                    write(client, p).await;
                }
            }
        }))
        .await;
    }
}

/// Creates the Event, or bumps the count of the one already there. Most are new, so the
/// create comes first and only a repeat reads the Event.
async fn write<C: Client>(client: &C, p: Pending) {
    let last = p.event["lastTimestamp"].clone();
    match client
        .create_named(&event::RESOURCE, &p.namespace, p.event)
        .await
    {
        Err(e) if e.code == 409 => {}
        Err(e) => return tracing::debug!(error = %e, "could not record event"),
        Ok(_) => return,
    }
    let Ok(existing) = client.get(&event::RESOURCE, &p.namespace, &p.name).await else {
        return;
    };
    let count = existing["count"].as_i64().unwrap_or(1) + 1;
    let patch = json!({"count": count, "lastTimestamp": last});
    if let Err(e) = client
        .patch(
            &event::RESOURCE,
            &p.namespace,
            &p.name,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        tracing::debug!(error = %e, "could not update event");
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
