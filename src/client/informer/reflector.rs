//! The task behind an [`Informer`]: client-go's reflector. It lists the kind once, then
//! watches from the list's revision; a watch that ends is resumed from the last revision
//! it brought, and only a 410 (that revision left the server's history) lists again. A
//! list into a cache that already holds objects is told to handlers as the difference.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{key_of, Informer, Key, Kind};
use crate::client::options::{ListOptions, TypedEvent, WatchOptions};
use crate::client::status::ApiError;
use crate::client::{Client, WatchSource};
use crate::resources::meta;

/// Pause after a failed list or watch before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// Keeps `informer` in step with the API until `shutdown`.
pub(super) async fn run<C: Client, K: Kind>(
    client: C,
    informer: Informer<K>,
    shutdown: CancellationToken,
) {
    let rt = informer.resource();
    // `None`: the cache must be (re)listed before watching.
    let mut revision: Option<u64> = None;
    loop {
        let from = match revision {
            Some(rv) => rv,
            None => match relist(&client, &informer).await {
                Ok(rv) => {
                    informer.mark_synced();
                    rv
                }
                Err(e) => {
                    tracing::warn!(kind = rt.kind, error = %e, "informer could not list");
                    if pause(&shutdown).await {
                        return;
                    }
                    continue;
                }
            },
        };
        revision = Some(from);
        let opts = WatchOptions {
            resource_version: from.to_string(),
            ..Default::default()
        };
        let mut watch = match client.watch(rt, None, &opts).await {
            Ok(w) => w,
            Err(e) if e.code == 410 => {
                revision = None;
                continue;
            }
            Err(e) => {
                tracing::warn!(kind = rt.kind, error = %e, "informer could not watch");
                if pause(&shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let event = tokio::select! {
                e = watch.next_as::<K>() => e,
                _ = shutdown.cancelled() => return,
            };
            match event {
                Some(TypedEvent::Added(o) | TypedEvent::Modified(o)) => {
                    revision = object_revision(&o).or(revision);
                    informer.apply(Some(cached(o)), None);
                }
                Some(TypedEvent::Deleted(o)) => {
                    revision = object_revision(&o).or(revision);
                    informer.apply(None, Some(&key_of(&o)));
                }
                Some(TypedEvent::Unreadable(e)) => {
                    tracing::warn!(kind = rt.kind, error = %e, "unreadable object in a watch")
                }
                Some(TypedEvent::Bookmark(o)) => revision = revision_of(&o).or(revision),
                Some(TypedEvent::Error(status)) => {
                    if status.get("code").and_then(Value::as_u64) == Some(410) {
                        revision = None;
                    }
                    break;
                }
                None => break,
            }
        }
    }
}

/// Sleeps [`RETRY`]; true when shutdown came first.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(RETRY) => false,
        _ = shutdown.cancelled() => true,
    }
}

/// Lists the kind into the cache, telling what differs, and answers the list's revision.
pub(super) async fn relist<C: Client, K: Kind>(
    client: &C,
    informer: &Informer<K>,
) -> Result<u64, ApiError> {
    let rt = informer.resource();
    let mut seen: HashSet<Key> = HashSet::new();
    let revision = client
        .list_each(rt, None, &ListOptions::default(), |o| {
            let key = value_key(&o);
            let unchanged = informer.get(&key.0, &key.1).is_some_and(|held| {
                held.metadata().resource_version.as_deref() == meta::meta_str(&o, "resourceVersion")
            });
            if !unchanged {
                match serde_json::from_value::<K>(o) {
                    Ok(obj) => informer.apply(Some(cached(obj)), None),
                    Err(e) => {
                        tracing::warn!(kind = rt.kind, error = %e, "unreadable object in a list")
                    }
                }
            }
            seen.insert(key);
            ControlFlow::Continue(())
        })
        .await?;
    for key in informer.keys() {
        if !seen.contains(&key) {
            informer.apply(None, Some(&key));
        }
    }
    Ok(revision)
}

/// An object as the cache holds it: without `metadata.managedFields`, which no component
/// reads and which would be most of a small object's memory (kube-controller-manager's
/// informers drop them the same way).
fn cached<K: Kind>(mut o: K) -> Arc<K> {
    o.metadata_mut().managed_fields = None;
    Arc::new(o)
}

fn object_revision<K: Kind>(o: &K) -> Option<u64> {
    o.metadata().resource_version.as_deref()?.parse().ok()
}

fn revision_of(o: &Value) -> Option<u64> {
    meta::meta_str(o, "resourceVersion")?.parse().ok()
}

fn value_key(o: &Value) -> Key {
    (
        meta::meta_str(o, "namespace").unwrap_or("").to_string(),
        meta::name_of(o).to_string(),
    )
}
