//! The follower: one task per store that watches the prefix from the revision the hub has
//! applied and publishes every change into the hub in etcd's order, the previous state taken
//! from the hub. A broken stream is watched again from the last applied revision (on the next
//! endpoint when the member failed); when etcd has compacted past it, the prefix is listed
//! again and the differences are published as events, so the hub stays exact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::json;
use tokio::task::JoinHandle;

use super::gateway::{self, Gateway, MAX_ANSWER_BYTES};
use super::load::{self, key_of, stamped};
use super::wire::{self, EventKind, WatchMessage, WatchResponse};
use crate::store::hub::{Event, EventType, Hub};
use crate::store::{Object, StoreError};

/// The first wait before watching again after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A stream silent for this long is taken as dead: etcd sends a progress notification to
/// an idle watch every 10 minutes.
const SILENCE: Duration = Duration::from_secs(11 * 60);

/// Starts following from the hub's revision.
pub(super) fn start(
    gateway: Arc<Gateway>,
    hub: Arc<Mutex<Hub>>,
    prefix: Arc<str>,
) -> JoinHandle<()> {
    let from = lock(&hub).revision();
    tokio::spawn(run(gateway, hub, prefix, from))
}

fn lock(hub: &Mutex<Hub>) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a stream ended without an error.
enum End {
    /// etcd no longer has the revisions after the applied one.
    Compacted,
}

async fn run(gateway: Arc<Gateway>, hub: Arc<Mutex<Hub>>, prefix: Arc<str>, mut applied: u64) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let endpoint = gateway.current();
        let mut heard = false;
        let failure =
            match stream(&gateway, endpoint, &hub, &prefix, &mut applied, &mut heard).await {
                Ok(End::Compacted) => match relist(&gateway, &hub, &prefix).await {
                    Ok(revision) => {
                        tracing::info!(revision, "etcd compacted past the watch; listed again");
                        applied = revision;
                        backoff = FIRST_BACKOFF;
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
        if heard {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(error = %failure, revision = applied, "etcd watch broke; watching again");
        if gateway::is_transient(&failure) || heard {
            gateway.fail_over(endpoint);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Watches from `applied + 1` on `endpoint` and applies what comes until the stream ends.
async fn stream(
    gateway: &Gateway,
    endpoint: usize,
    hub: &Mutex<Hub>,
    prefix: &str,
    applied: &mut u64,
    heard: &mut bool,
) -> Result<End, StoreError> {
    let url = gateway.url(endpoint).to_string();
    let body = json!({"create_request": {
        "key": wire::b64(prefix.as_bytes()),
        "range_end": wire::b64(&wire::prefix_end(prefix.as_bytes())),
        "start_revision": applied.saturating_add(1).to_string(),
        "progress_notify": true,
    }});
    let mut incoming = gateway.watch(endpoint, &body).await?;
    let broken = |reason: String| StoreError::EtcdUnreachable {
        endpoint: url.clone(),
        reason,
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let frame = match tokio::time::timeout(SILENCE, incoming.frame()).await {
            Err(_) => return Err(broken(format!("the watch was silent for {SILENCE:?}"))),
            Ok(None) => return Err(broken("the watch stream ended".into())),
            Ok(Some(Err(e))) => return Err(broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        if buf.len() > MAX_ANSWER_BYTES {
            return Err(StoreError::EtcdMalformed {
                endpoint: url,
                reason: format!("a watch message is larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        let mut consumed = 0;
        let mut messages = serde_json::Deserializer::from_slice(&buf).into_iter::<WatchMessage>();
        loop {
            match messages.next() {
                None => {
                    consumed = messages.byte_offset();
                    break;
                }
                Some(Ok(message)) => {
                    consumed = messages.byte_offset();
                    *heard = true;
                    if let Some(end) = handle(&url, message, hub, prefix, applied)? {
                        return Ok(end);
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    return Err(StoreError::EtcdMalformed {
                        endpoint: url,
                        reason: format!("watch message: {e}"),
                    })
                }
            }
        }
        buf.drain(..consumed);
    }
}

/// Applies one message of the stream.
fn handle(
    url: &str,
    message: WatchMessage,
    hub: &Mutex<Hub>,
    prefix: &str,
    applied: &mut u64,
) -> Result<Option<End>, StoreError> {
    if let Some(e) = message.error {
        return Err(StoreError::Etcd {
            endpoint: url.to_string(),
            code: e.code,
            message: e.text(),
        });
    }
    let Some(response) = message.result else {
        return Ok(None);
    };
    if response.canceled {
        if response.compact_revision > 0 {
            return Ok(Some(End::Compacted));
        }
        return Err(StoreError::Etcd {
            endpoint: url.to_string(),
            code: 0,
            message: format!("the watch was cancelled: {}", response.cancel_reason),
        });
    }
    if response.events.is_empty() {
        // A progress notification: every change up to its revision has been sent.
        if !response.created && response.header.revision > *applied {
            *applied = response.header.revision;
            lock(hub).advance(*applied);
        }
        return Ok(None);
    }
    apply(response, hub, prefix, applied);
    Ok(None)
}

/// Publishes a batch of events in order, skipping any at or below the applied revision.
fn apply(response: WatchResponse, hub: &Mutex<Hub>, prefix: &str, applied: &mut u64) {
    let floor = *applied;
    // Values are parsed before the hub is locked.
    let changes: Vec<_> = response
        .events
        .into_iter()
        .filter(|e| e.kv.mod_revision > floor)
        .filter_map(|e| {
            let key = key_of(prefix, &e.kv.key)?;
            let revision = e.kv.mod_revision;
            let object = match e.kind {
                EventKind::Delete => None,
                EventKind::Put => match stamped(&e.kv.value, revision) {
                    Ok(o) => Some(Arc::new(o)),
                    Err(err) => {
                        tracing::warn!(%key, error = %err, "skipping an etcd value that is not a stored object");
                        return None;
                    }
                },
            };
            Some((revision, key, object))
        })
        .collect();
    let mut hub = lock(hub);
    for (revision, key, object) in changes {
        *applied = (*applied).max(revision);
        let previous = hub.get(&key);
        let event = match (object, previous) {
            (Some(object), previous) => Event {
                revision,
                kind: if previous.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                },
                key,
                object,
                previous,
            },
            (None, Some(previous)) => Event {
                revision,
                kind: EventType::Deleted,
                key,
                object: Arc::new(restamped(&previous, revision)),
                previous: Some(previous),
            },
            // A delete of something the hub never held (a value it skipped).
            (None, None) => continue,
        };
        hub.publish(event);
    }
    hub.advance(*applied);
}

/// `object`'s last state, stamped with the revision that deleted it.
pub(super) fn restamped(object: &Object, revision: u64) -> Object {
    stamped(object.json().as_bytes(), revision).unwrap_or_else(|_| Object {
        revision,
        ..object.clone()
    })
}

/// Lists the prefix again and publishes how it differs from the hub, all at the list's
/// revision; returns that revision.
async fn relist(gateway: &Gateway, hub: &Mutex<Hub>, prefix: &str) -> Result<u64, StoreError> {
    let loaded = load::list(gateway, prefix).await?;
    let revision = loaded.revision;
    let mut hub = lock(hub);
    let gone: Vec<_> = hub
        .objects()
        .iter()
        .filter(|(k, _)| !loaded.objects.contains_key(*k))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    for (key, previous) in gone {
        hub.publish(Event {
            revision,
            kind: EventType::Deleted,
            key,
            object: Arc::new(restamped(&previous, revision)),
            previous: Some(previous),
        });
    }
    for (key, object) in loaded.objects {
        let previous = hub.get(&key);
        if previous
            .as_ref()
            .is_some_and(|p| p.revision == object.revision)
        {
            continue;
        }
        hub.publish(Event {
            revision,
            kind: if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            key,
            object,
            previous,
        });
    }
    hub.advance(revision);
    Ok(revision)
}
