//! Controllers, as kube-controller-manager's: each watches its kind through the process's
//! shared informers (one list and watch per kind, an in-memory cache every controller reads)
//! and reconciles one object at a time from a work queue that informer handlers fill
//! ([`runtime`]). Most controllers implement [`runtime::Controller`] on typed objects; the
//! older ones written against an object's JSON implement [`Reconciler`] and run through
//! [`start`], which hands them the cached object as JSON. Nothing is listed again when one
//! object changes.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod event_ttl;
mod expectations;
pub mod garbage_collector;
mod history;
pub mod job;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
mod pod_changes;
mod pod_control;
pub mod pods;
mod queue;
pub mod replicaset;
pub mod runtime;
pub mod statefulset;
mod status_patch;
pub mod taint_eviction;
pub mod volume_binding;
pub mod work_queue;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::client::informer::{Informer, Informers, Key, Kind, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;
use work_queue::WorkQueue;

/// What a reconcile wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Look again after this long even without a change.
    RequeueAfter(Duration),
}

/// A controller written against its object's JSON.
pub trait Reconciler<C: Client>: Send + Sync + 'static {
    /// The watched kind.
    type Kind: Kind + Serialize;
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Registers handlers on the informers of related kinds that queue the keys of the
    /// watched objects a change concerns (e.g. a volume's change queues its claim).
    fn wire(&self, _informers: &Informers<C>, _queue: &WorkQueue) -> Result<(), Unserved> {
        Ok(())
    }
    /// Brings the world in line with `obj`.
    fn reconcile(
        &self,
        client: &C,
        obj: &Value,
    ) -> impl Future<Output = Result<Action, ApiError>> + Send;
}

/// A [`Reconciler`] run as a [`runtime::Controller`].
pub struct Adapted<C: Client, R: Reconciler<C>> {
    client: C,
    inner: R,
    primary: Informer<R::Kind>,
}

impl<C: Client, R: Reconciler<C>> Adapted<C, R> {
    /// Resolves once the watched kind has listed.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let primary = self.primary.clone();
        async move { primary.wait_synced().await }
    }
}

/// A controller wired to the informers, its primary informer and its work queue: what
/// [`runtime::run`] takes.
pub type Wired<X, K> = Result<(X, Informer<K>, WorkQueue), Unserved>;

/// Wires `r` to the shared informers; run the result with [`runtime::run`].
pub fn start<C: Client, R: Reconciler<C>>(
    informers: &Informers<C>,
    r: R,
) -> Wired<Adapted<C, R>, R::Kind> {
    let primary = informers.get::<R::Kind>()?;
    let queue = WorkQueue::default();
    r.wire(informers, &queue)?;
    Ok((
        Adapted {
            client: informers.client().clone(),
            inner: r,
            primary: primary.clone(),
        },
        primary,
        queue,
    ))
}

impl<C: Client, R: Reconciler<C>> runtime::Controller for Adapted<C, R> {
    type Kind = R::Kind;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn reconcile(&self, obj: Arc<R::Kind>) -> Result<Action, ApiError> {
        let value = serde_json::to_value(&*obj)
            .map_err(|e| ApiError::internal(format!("cached object unreadable: {e}")))?;
        self.inner.reconcile(&self.client, &value).await
    }

    fn forget(&self, _key: &Key) {}
}
