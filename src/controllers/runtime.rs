//! The informer-driven controller loop, the shape of kube-controller-manager's controllers
//! (and kube-runtime's `Controller`): the shared informer of the controller's kind queues
//! the key of every object that changes, other informers queue the keys a change of theirs
//! concerns (wired by the controller itself), and one worker reconciles each due key from
//! the cache, never from a list. A failed reconcile is retried with backoff; every object
//! is looked at again every [`RESYNC`] even without a change.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Informer, Key, Kind};
use crate::client::status::ApiError;

/// How often every object is reconciled again without a change (an informer's resync).
pub const RESYNC: Duration = Duration::from_secs(300);

/// One controller over the informer of its kind.
pub trait Controller: Send + Sync + 'static {
    /// The kind reconciled.
    type Kind: Kind;

    /// Name for logs, as upstream's controller names (`replicaset-controller`).
    fn name(&self) -> &'static str;

    /// Brings the world in line with `obj`, read from the cache.
    fn reconcile(
        &self,
        obj: Arc<Self::Kind>,
    ) -> impl Future<Output = Result<Action, ApiError>> + Send;

    /// The object at `key` is gone from the cache.
    fn forget(&self, _key: &Key) {}
}

/// Runs `c` over `primary` until `shutdown`; `queue` may be filled by other informers'
/// handlers too. `ready` resolves once every informer the controller reads has listed.
pub async fn run<C: Controller>(
    c: C,
    primary: Informer<C::Kind>,
    queue: WorkQueue,
    ready: impl Future<Output = ()>,
    shutdown: CancellationToken,
) {
    {
        let queue = queue.clone();
        primary.on_change(move |change| queue.add(key_of(&**change.object())));
    }
    tokio::select! {
        _ = ready => {}
        _ = shutdown.cancelled() => return,
    }
    let mut resync = tokio::time::Instant::now() + RESYNC;
    loop {
        let key = tokio::select! {
            k = queue.next() => k,
            _ = tokio::time::sleep_until(resync) => {
                primary.keys().into_iter().for_each(|k| queue.add(k));
                resync = tokio::time::Instant::now() + RESYNC;
                continue;
            }
            _ = shutdown.cancelled() => return,
        };
        let Some(obj) = primary.get(&key.0, &key.1) else {
            queue.remove(&key);
            c.forget(&key);
            continue;
        };
        match c.reconcile(obj).await {
            Ok(Action::Done) => queue.forget(&key),
            Ok(Action::RequeueAfter(d)) => {
                queue.forget(&key);
                queue.add_after(key, d);
            }
            Err(e) if e.code == 409 => {
                // The cache was a step behind a write: look again once it has caught up.
                tracing::debug!(controller = c.name(), namespace = %key.0, name = %key.1, error = %e, "reconcile raced a change");
                queue.add_rate_limited(key);
            }
            Err(e) => {
                tracing::warn!(controller = c.name(), namespace = %key.0, name = %key.1, error = %e, "reconcile failed");
                queue.add_rate_limited(key);
            }
        }
    }
}
