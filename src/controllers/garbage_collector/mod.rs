//! The garbage collector, as kube-controller-manager's: deletes objects whose owners are
//! all gone (the `ownerReferences` a ReplicaSet puts on its pods, a Deployment on its
//! ReplicaSets), and carries out the propagation policy a delete asked for — `orphan`
//! (the dependents lose their reference to the owner, then the owner goes) and
//! `foregroundDeletion` (the dependents go first; the owner goes once none with
//! `blockOwnerDeletion` is left). Background deletion needs nothing more: the owner goes at
//! once and its dependents follow as dangling. It watches every served kind through
//! metadata-only informers and keeps who-owns-whom in a [`graph::Graph`].

mod attempt;
mod graph;
mod kinds;

use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio_util::sync::CancellationToken;

use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{Change, Informers, PartialObject};
use crate::client::options::GC_FINALIZERS;
use crate::client::Client;
use crate::resources::{custom, ResourceType, RESOURCES};
use graph::{Graph, Item};
use kinds::{Kind, Kinds};

/// The component name, as upstream.
pub const COMPONENT: &str = "garbage-collector-controller";

/// The collector.
pub struct GarbageCollector<C: Client> {
    client: C,
    kinds: Kinds,
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue<Item>,
}

fn lock(graph: &Mutex<Graph>) -> std::sync::MutexGuard<'_, Graph> {
    // Handlers and the worker cannot panic while holding it without aborting the process.
    graph.lock().unwrap_or_else(PoisonError::into_inner)
}

fn has_gc_finalizer(m: &ObjectMeta) -> bool {
    m.finalizers
        .iter()
        .flatten()
        .any(|f| GC_FINALIZERS.contains(&f.as_str()))
}

impl<C: Client> GarbageCollector<C> {
    /// Watches every served kind (events aside: nothing owns them that matters), custom
    /// resources included as their definitions are established.
    pub fn new(informers: &Arc<Informers<C>>) -> Self {
        let kinds = Kinds::default();
        let graph = Arc::new(Mutex::new(Graph::default()));
        let queue = WorkQueue::<Item>::default();
        for rt in RESOURCES.iter().filter(|rt| rt.kind != "Event") {
            watch(informers, &kinds, &graph, &queue, rt);
        }
        match informers.get::<CustomResourceDefinition>() {
            Ok(crds) => {
                let (informers, kinds) = (Arc::downgrade(informers), kinds.clone());
                let (graph, queue) = (graph.clone(), queue.clone());
                crds.on_change(move |c| {
                    let (Change::Added(crd) | Change::Updated { new: crd, .. }) = c else {
                        return;
                    };
                    let Some(informers) = informers.upgrade() else {
                        return;
                    };
                    let Ok(crd) = serde_json::to_value(&**crd) else {
                        return;
                    };
                    if !custom::condition_true(&crd, "Established") {
                        return;
                    }
                    let rt =
                        custom::storage_version(&crd).and_then(|v| custom::resource_type(&crd, v));
                    if let Some(rt) = rt.filter(|rt| !kinds.has(rt.group, rt.plural)) {
                        watch(&informers, &kinds, &graph, &queue, rt);
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "the garbage collector cannot follow custom resources")
            }
        }
        GarbageCollector {
            client: informers.client().clone(),
            kinds,
            graph,
            queue,
        }
    }

    /// Runs until `shutdown`, once every kind has listed (a kind not yet listed would make
    /// every owner of that kind look gone).
    pub async fn run(self, shutdown: CancellationToken) {
        let synced = async {
            for k in self.kinds.all() {
                k.informer.wait_synced().await;
            }
        };
        tokio::select! {
            _ = synced => {}
            _ = shutdown.cancelled() => return,
        }
        loop {
            let item = tokio::select! {
                i = self.queue.next() => i,
                _ = shutdown.cancelled() => return,
            };
            match attempt::process(&self, &item).await {
                Ok(Action::Done) => self.queue.forget(&item),
                Ok(Action::RequeueAfter(d)) => {
                    self.queue.forget(&item);
                    self.queue.add_after(item, d);
                }
                Err(e) => {
                    let kind = self.kinds.get(item.0).map_or("", |k| k.rt.kind);
                    // A conflict only means the cache was a step behind: retried at once.
                    if e.code == 409 {
                        tracing::debug!(kind, namespace = %item.1, name = %item.2, error = %e, "garbage collection raced a change");
                    } else {
                        tracing::warn!(kind, namespace = %item.1, name = %item.2, error = %e, "garbage collection failed");
                    }
                    self.queue.add_rate_limited(item);
                }
            }
        }
    }
}

/// Starts watching `rt` (metadata only) and files its changes.
fn watch<C: Client>(
    informers: &Informers<C>,
    kinds: &Kinds,
    graph: &Arc<Mutex<Graph>>,
    queue: &WorkQueue<Item>,
    rt: &'static ResourceType,
) {
    let informer = informers.metadata(rt);
    let Some(i) = kinds.add(Kind {
        rt,
        informer: informer.clone(),
    }) else {
        return;
    };
    let (graph, queue, kinds) = (graph.clone(), queue.clone(), kinds.clone());
    informer.on_change(move |c| on_change(i, &kinds, &graph, &queue, c));
}

/// Files the change in the graph and queues what it concerns: an object with owners (are
/// they still there?), an object being deleted with a collector finalizer, the dependents
/// of an object gone, and the owners of an object gone (one may wait for it).
fn on_change(
    kind: usize,
    kinds: &Kinds,
    graph: &Mutex<Graph>,
    queue: &WorkQueue<Item>,
    change: &Change<PartialObject>,
) {
    let obj = change.object();
    let m = &obj.metadata;
    let item: Item = (
        kind,
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    );
    match change {
        Change::Added(o) => {
            lock(graph).update(&item, None, Some(&o.metadata));
            if o.metadata
                .owner_references
                .as_ref()
                .is_some_and(|r| !r.is_empty())
                || (o.metadata.deletion_timestamp.is_some() && has_gc_finalizer(&o.metadata))
            {
                queue.add(item);
            }
        }
        Change::Updated { old, new } => {
            lock(graph).update(&item, Some(&old.metadata), Some(&new.metadata));
            let owners_changed = old.metadata.owner_references != new.metadata.owner_references;
            let finalizing =
                new.metadata.deletion_timestamp.is_some() && has_gc_finalizer(&new.metadata);
            if owners_changed || finalizing {
                queue.add(item);
            }
        }
        Change::Deleted(o) => {
            let dependents = {
                let mut g = lock(graph);
                g.update(&item, Some(&o.metadata), None);
                o.metadata
                    .uid
                    .as_deref()
                    .map(|u| g.dependents(u))
                    .unwrap_or_default()
            };
            dependents.into_iter().for_each(|d| queue.add(d));
            // An owner deleting in the foreground may have waited for this one.
            for r in o.metadata.owner_references.iter().flatten() {
                if let Some((j, owner)) = kinds
                    .position(&r.api_version, &r.kind)
                    .and_then(|j| Some((j, kinds.get(j)?)))
                {
                    let ns = if owner.rt.namespaced {
                        item.1.clone()
                    } else {
                        String::new()
                    };
                    queue.add((j, ns, r.name.clone()));
                }
            }
        }
    }
}
