//! The kubelet's sync loop (upstream's `syncLoop` feeding `podWorkers`): it watches this
//! node's pods by field selector and feeds one [`pod worker`](super) per pod with its latest
//! state, and one per static pod. When the API cannot be listed at start, the pods in the
//! node's checkpoint run; pods keep running through any outage, and the list that follows
//! one stops the pods deleted meanwhile and starts the ones added. Mirror pods are not run:
//! they are kept in step with the static pods here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::client::options::{DeleteOptions, ListOptions, Preconditions, WatchEvent, WatchOptions};
use crate::client::status::ApiError;
use crate::client::{Client, WatchSource};
use crate::kubelet::agent::NodeContext;
use crate::kubelet::devices;
use crate::kubelet::static_pods;
use crate::kubelet::static_pods::mirror::PodKey;
use crate::resources::meta;
use crate::resources::{node, pod};

/// How often a failed list of this node's pods is tried again.
const LIST_RETRY: Duration = Duration::from_secs(2);
/// How often the mirror pods are compared with the static pods besides on changes.
const MIRROR_RESYNC: Duration = Duration::from_secs(10);

struct Worker {
    tx: watch::Sender<Option<Value>>,
}

/// The kubelet's sync loop state: one worker per pod, the static pods, and the mirror pods
/// the API holds for them.
struct Dispatch<C: Client> {
    ctx: Arc<NodeContext<C>>,
    workers: HashMap<String, Worker>,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    /// This node's static pods.
    statics: Vec<Value>,
    /// The API's mirror pods on this node, by namespace and name.
    mirrors: BTreeMap<PodKey, Value>,
    /// The Node's uid (the mirror pods' owner), once read.
    node_uid: Option<String>,
}

/// The next static pods from `rx`; never, without a static pod directory.
async fn next_statics(rx: &mut Option<watch::Receiver<Vec<Value>>>) -> Vec<Value> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    if r.changed().await.is_err() {
        return std::future::pending().await; // the source stopped: the pods stay as they are
    }
    r.borrow_and_update().clone()
}

/// Runs the sync loop until `shutdown`; `statics` are the static pods as they change, and
/// `offline_wait` how long the first list may take before the checkpoint's pods run.
pub async fn run<C: Client>(
    ctx: Arc<NodeContext<C>>,
    mut statics: Option<watch::Receiver<Vec<Value>>>,
    offline_wait: Duration,
    shutdown: CancellationToken,
) {
    let selector = format!("spec.nodeName={}", ctx.node);
    let initial = statics
        .as_mut()
        .map(|r| r.borrow_and_update().clone())
        .unwrap_or_default();
    let mut d = Dispatch {
        ctx,
        workers: HashMap::new(),
        tasks: JoinSet::new(),
        shutdown: shutdown.clone(),
        statics: Vec::new(),
        mirrors: BTreeMap::new(),
        node_uid: None,
    };
    let mut restored = false;
    let mut failing = false;
    let mut mirror_tick = tokio::time::interval(MIRROR_RESYNC);
    loop {
        let list_opts = ListOptions {
            field_selector: selector.clone(),
            ..Default::default()
        };
        let listing = d.ctx.client.list(&pod::RESOURCE, None, &list_opts);
        let listed = if restored {
            listing.await
        } else {
            tokio::time::timeout(offline_wait, listing)
                .await
                .unwrap_or_else(|_| Err(ApiError::unavailable("no answer")))
        };
        let list = match listed {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "listing this node's pods failed; its pods keep running and the list is tried again");
                    failing = true;
                }
                if !restored {
                    let saved = d.ctx.checkpoint.pods();
                    let mut all = saved.clone();
                    all.extend(initial.iter().cloned());
                    devices::restore(&d.ctx.devices, d.ctx.runtime.as_ref(), &all).await;
                    restored = true;
                    tracing::info!(
                        pods = saved.len(),
                        "running this node's pods from the checkpoint"
                    );
                    for p in saved {
                        d.deliver(p);
                    }
                    d.set_statics(initial.clone());
                }
                tokio::select! {
                    _ = tokio::time::sleep(LIST_RETRY) => continue,
                    pods = next_statics(&mut statics) => { d.set_statics(pods); continue }
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        if failing {
            tracing::info!("this node's pods are listed again");
            failing = false;
        }
        if !restored {
            // before any pod is admitted: the devices running pods held before a restart
            let mut all = list.items.clone();
            all.extend(initial.iter().cloned());
            devices::restore(&d.ctx.devices, d.ctx.runtime.as_ref(), &all).await;
            restored = true;
            d.set_statics(initial.clone());
        }
        d.mirrors.clear();
        let mut present: std::collections::HashSet<String> = d
            .statics
            .iter()
            .map(|p| meta::meta_str(p, "uid").unwrap_or("").to_string())
            .collect();
        for p in list.items {
            if static_pods::mirror::is_mirror(&p) {
                d.mirrors.insert(static_pods::mirror::key_of(&p), p);
                continue;
            }
            present.insert(meta::meta_str(&p, "uid").unwrap_or("").to_string());
            d.ctx.checkpoint.put_pod(&p);
            d.deliver(p);
        }
        for (uid, w) in d.workers.iter() {
            if !present.contains(uid) {
                let _ = w.tx.send(None);
            }
        }
        d.ctx.checkpoint.retain_pods(|uid| present.contains(uid));
        d.redeliver_statics();
        d.sync_mirrors().await;
        let opts = WatchOptions {
            field_selector: selector.clone(),
            resource_version: list.resource_version.to_string(),
            ..Default::default()
        };
        let Ok(mut watch) = d.ctx.client.watch(&pod::RESOURCE, None, &opts).await else {
            continue;
        };
        loop {
            let event = tokio::select! {
                e = watch.next() => e,
                pods = next_statics(&mut statics) => {
                    d.set_statics(pods);
                    d.sync_mirrors().await;
                    continue;
                }
                _ = mirror_tick.tick() => {
                    d.sync_mirrors().await;
                    continue;
                }
                _ = shutdown.cancelled() => None,
            };
            match event {
                Some(WatchEvent::Added(p) | WatchEvent::Modified(p)) => {
                    if static_pods::mirror::is_mirror(&p) {
                        d.mirrors.insert(static_pods::mirror::key_of(&p), p);
                        d.redeliver_statics();
                        d.sync_mirrors().await;
                    } else {
                        d.ctx.checkpoint.put_pod(&p);
                        d.deliver(p);
                    }
                }
                Some(WatchEvent::Deleted(p)) => {
                    let uid = meta::meta_str(&p, "uid").unwrap_or("");
                    if static_pods::mirror::is_mirror(&p) {
                        let key = static_pods::mirror::key_of(&p);
                        if d.mirrors.get(&key).and_then(|m| meta::meta_str(m, "uid")) == Some(uid) {
                            d.mirrors.remove(&key);
                        }
                        d.sync_mirrors().await;
                    } else {
                        d.ctx.checkpoint.remove_pod(uid);
                        if let Some(w) = d.workers.get(uid) {
                            let _ = w.tx.send(None);
                        }
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        while d.tasks.try_join_next().is_some() {}
        d.workers.retain(|_, w| !w.tx.is_closed());
        if shutdown.is_cancelled() {
            break;
        }
    }
    while d.tasks.join_next().await.is_some() {}
}

impl<C: Client> Dispatch<C> {
    /// Gives `pod` to its worker, starting one for a new pod.
    fn deliver(&mut self, pod: Value) {
        let uid = meta::meta_str(&pod, "uid").unwrap_or("").to_string();
        if let Some(w) = self.workers.get(&uid) {
            if w.tx.send(Some(pod.clone())).is_ok() {
                return;
            }
        }
        let (tx, rx) = watch::channel(Some(pod));
        self.tasks
            .spawn(super::run(self.ctx.clone(), rx, self.shutdown.clone()));
        self.workers.insert(uid, Worker { tx });
    }

    /// A static pod as its worker sees it: with its mirror's status and resourceVersion,
    /// so the worker reports to a mirror that lost its status (one made again).
    fn static_view(&self, s: &Value) -> Value {
        let mut v = s.clone();
        let key = static_pods::mirror::key_of(s);
        if let Some(m) = self.mirrors.get(&key) {
            if static_pods::mirror::mirror_hash(m) == static_pods::manifest::hash_of(s) {
                v["status"] = m["status"].clone();
                v["metadata"]["resourceVersion"] = m["metadata"]["resourceVersion"].clone();
            }
        }
        v
    }

    /// Runs the static pods `pods`: the ones gone (or changed: a new uid) are stopped.
    fn set_statics(&mut self, pods: Vec<Value>) {
        let uids: std::collections::HashSet<&str> = pods
            .iter()
            .filter_map(|p| meta::meta_str(p, "uid"))
            .collect();
        for old in &self.statics {
            let uid = meta::meta_str(old, "uid").unwrap_or("");
            if !uids.contains(uid) {
                if let Some(w) = self.workers.get(uid) {
                    let _ = w.tx.send(None);
                }
            }
        }
        self.statics = pods;
        self.redeliver_statics();
    }

    /// Gives every static pod's worker its current view.
    fn redeliver_statics(&mut self) {
        let views: Vec<Value> = self.statics.iter().map(|s| self.static_view(s)).collect();
        for v in views {
            self.deliver(v);
        }
    }

    /// Creates, deletes and recreates mirror pods until the API shows the static pods.
    async fn sync_mirrors(&mut self) {
        use static_pods::mirror::{self, MirrorAction};
        if self.statics.is_empty() && self.mirrors.is_empty() {
            return;
        }
        let node_uid = match &self.node_uid {
            Some(u) => u.clone(),
            None => match self
                .ctx
                .client
                .get(&node::RESOURCE, "", &self.ctx.node)
                .await
            {
                Ok(n) => {
                    let uid = meta::meta_str(&n, "uid").unwrap_or("").to_string();
                    self.node_uid = Some(uid.clone());
                    uid
                }
                Err(e) => {
                    tracing::debug!(error = %e, "mirror pods wait for this node's Node");
                    return;
                }
            },
        };
        for action in mirror::plan(&self.statics, &self.mirrors, &self.ctx.node, &node_uid) {
            match action {
                MirrorAction::Delete { key, uid } => {
                    let opts = DeleteOptions {
                        grace_period_seconds: Some(0),
                        preconditions: Some(Preconditions {
                            uid: Some(uid.clone()),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match self
                        .ctx
                        .client
                        .delete(&pod::RESOURCE, &key.0, &key.1, &opts)
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(pod = %format!("{}/{}", key.0, key.1), "mirror pod deleted")
                        }
                        Err(e) if e.code == 404 || e.code == 409 => {}
                        Err(e) => {
                            tracing::warn!(error = %e, pod = %key.1, "cannot delete a mirror pod");
                            return;
                        }
                    }
                    if self
                        .mirrors
                        .get(&key)
                        .and_then(|m| meta::meta_str(m, "uid"))
                        == Some(uid.as_str())
                    {
                        self.mirrors.remove(&key);
                    }
                }
                MirrorAction::Create(m) => {
                    let key = mirror::key_of(&m);
                    match self.ctx.client.create(&pod::RESOURCE, &key.0, m).await {
                        Ok(created) => {
                            tracing::info!(pod = %format!("{}/{}", key.0, key.1), "mirror pod created");
                            self.mirrors.insert(key, created);
                        }
                        Err(e) if e.code == 409 => {} // the watch brings it
                        Err(e) => {
                            tracing::warn!(error = %e, pod = %key.1, "cannot create a mirror pod");
                        }
                    }
                }
            }
        }
        self.redeliver_statics();
    }
}
