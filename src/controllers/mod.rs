//! Controllers: small level-triggered reconcile functions on one shared loop (the shape of
//! kube-runtime's controller): list the kind once and queue every object,
//! then watch it and queue each object that changes, and a change to a related kind queues
//! the objects it concerns. Each queued object is read afresh and reconciled; a reconcile may
//! ask to look again later. Nothing is listed again until a watch ends, and no object is kept
//! beyond its key (lists hand objects over one at a time, [`Client::list_each`]).

pub mod daemonset;
pub mod deployment;
pub mod event_ttl;
mod expectations;
pub mod garbage_collector;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pods;
mod queue;
pub mod replicaset;
pub mod runtime;
pub mod volume_binding;
pub mod work_queue;

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::client::options::{ListOptions, WatchEvent, WatchOptions};
use crate::client::status::ApiError;
use crate::client::{Client, WatchSource};
use crate::resources::meta;
use crate::resources::ResourceType;
use queue::{Key, Queue};

/// What a reconcile wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Look again after this long even without a change.
    RequeueAfter(Duration),
}

/// Which objects of the watched kind a change to a related object concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Related {
    /// Every one.
    All,
    /// This one (namespace, empty for cluster-scoped kinds, and name).
    One(String, String),
    /// None.
    Nothing,
}

/// One controller: the kind it watches and how it reconciles one object.
pub trait Reconciler<C: Client>: Send + Sync + 'static {
    /// The watched kind.
    fn resource(&self) -> &'static ResourceType;
    /// Other kinds whose changes also queue objects (e.g. volumes for the claim binder).
    fn also_watch(&self) -> &'static [&'static ResourceType] {
        &[]
    }
    /// Which objects a change to `obj`, of the related kind `rt`, concerns.
    fn related(&self, _rt: &'static ResourceType, _obj: &Value) -> Related {
        Related::All
    }
    /// Brings the world in line with `obj`.
    fn reconcile(
        &self,
        client: &C,
        obj: &Value,
    ) -> impl Future<Output = Result<Action, ApiError>> + Send;
}

/// Retry delay after a failed reconcile, list or watch.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);
/// Every object is reconciled again this often even without a change (an informer's resync).
const RESYNC: Duration = Duration::from_secs(300);

/// Runs `r` until `shutdown` is cancelled.
pub async fn run<C: Client, R: Reconciler<C>>(client: C, r: R, shutdown: CancellationToken) {
    let rt = r.resource();
    let mut queue = Queue::default();
    loop {
        let watched = async {
            let (known, revision) = list_keys(&client, rt).await?;
            let opts = WatchOptions {
                resource_version: revision.to_string(),
                ..Default::default()
            };
            let main = client.watch(rt, None, &opts).await?;
            let mut related = Vec::new();
            for kind in r.also_watch() {
                related.push((*kind, client.watch(kind, None, &opts).await?));
            }
            Ok::<_, ApiError>((known, main, related))
        };
        let (mut known, mut main, mut related) = match watched.await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(kind = rt.kind, error = %e, "list or watch failed");
                tokio::select! {
                    _ = tokio::time::sleep(ERROR_BACKOFF) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        // After a (re)list every object is looked at; timers of objects gone are dropped.
        queue.retain(|k| known.contains(k));
        let now = Instant::now();
        known.iter().for_each(|k| queue.add(k.clone(), now));
        let mut resync = now + RESYNC;
        loop {
            while let Some(key) = queue.pop_due(Instant::now()) {
                if shutdown.is_cancelled() {
                    return;
                }
                if let Some(after) = reconcile_key(&client, &r, &key).await {
                    queue.add(key, Instant::now() + after);
                }
            }
            if Instant::now() >= resync {
                let now = Instant::now();
                known.iter().for_each(|k| queue.add(k.clone(), now));
                resync = now + RESYNC;
                continue;
            }
            let wake = queue.next_due().map_or(resync, |d| d.min(resync));
            let related_change = async {
                if related.is_empty() {
                    return std::future::pending().await;
                }
                let nexts = related.iter_mut().map(|(kind, w)| {
                    let kind: &'static ResourceType = kind;
                    Box::pin(async move { (kind, w.next().await) })
                });
                futures_util::future::select_all(nexts).await.0
            };
            tokio::select! {
                e = main.next() => match e {
                    Some(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                        let key = key_of(&o);
                        known.insert(key.clone());
                        queue.add(key, Instant::now());
                    }
                    Some(WatchEvent::Deleted(o)) => {
                        let key = key_of(&o);
                        known.remove(&key);
                        queue.remove(&key);
                    }
                    Some(_) => {}
                    None => break,
                },
                (kind, e) = related_change => match e {
                    Some(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                        let now = Instant::now();
                        match r.related(kind, &o) {
                            Related::All => known.iter().for_each(|k| queue.add(k.clone(), now)),
                            Related::One(ns, name) => {
                                let key = (ns, name);
                                if known.contains(&key) {
                                    queue.add(key, now);
                                }
                            }
                            Related::Nothing => {}
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// Reads one object afresh and reconciles it; `Some` when it should be looked at again.
async fn reconcile_key<C: Client, R: Reconciler<C>>(
    client: &C,
    r: &R,
    key: &Key,
) -> Option<Duration> {
    let rt = r.resource();
    let (ns, name) = (key.0.as_str(), key.1.as_str());
    let obj = match client.get(rt, ns, name).await {
        Ok(obj) => obj,
        Err(e) if e.code == 404 => return None,
        Err(e) => {
            tracing::warn!(kind = rt.kind, name, error = %e, "reading for reconcile failed");
            return Some(ERROR_BACKOFF);
        }
    };
    match r.reconcile(client, &obj).await {
        Ok(Action::Done) => None,
        Ok(Action::RequeueAfter(d)) => Some(d),
        Err(e) => {
            tracing::warn!(kind = rt.kind, name, error = %e, "reconcile failed");
            Some(ERROR_BACKOFF)
        }
    }
}

/// The keys of every object of `rt`, and the revision of the list.
async fn list_keys<C: Client>(
    client: &C,
    rt: &'static ResourceType,
) -> Result<(BTreeSet<Key>, u64), ApiError> {
    let mut keys = BTreeSet::new();
    let revision = client
        .list_each(rt, None, &ListOptions::default(), |o| {
            keys.insert(key_of(&o));
            ControlFlow::Continue(())
        })
        .await?;
    Ok((keys, revision))
}

fn key_of(obj: &Value) -> Key {
    (
        meta::meta_str(obj, "namespace").unwrap_or("").to_string(),
        meta::name_of(obj).to_string(),
    )
}
