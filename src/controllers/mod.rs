//! Controllers: small level-triggered reconcile functions on one shared loop (the shape of
//! kube-runtime's controller): list the kind, reconcile every object, then wait for any change
//! (or the earliest requested retry) and do it again.

pub mod event_ttl;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod volume_binding;

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::registry::{ListOptions, WatchOptions};
use crate::api::status::ApiError;
use crate::client::{Client, WatchSource};
use crate::resources::ResourceType;

/// What a reconcile wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Look again after this long even without a change.
    RequeueAfter(Duration),
}

/// One controller: the kind it watches and how it reconciles one object.
pub trait Reconciler<C: Client>: Send + Sync + 'static {
    /// The watched kind.
    fn resource(&self) -> &'static ResourceType;
    /// Other kinds whose changes also start a pass (e.g. volumes for the claim binder).
    fn also_watch(&self) -> &'static [&'static ResourceType] {
        &[]
    }
    /// Brings the world in line with `obj`.
    fn reconcile(
        &self,
        client: &C,
        obj: &Value,
    ) -> impl Future<Output = Result<Action, ApiError>> + Send;
}

/// Retry delay after a failed pass.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);

/// Runs `r` until `shutdown` is cancelled.
pub async fn run<C: Client, R: Reconciler<C>>(client: C, r: R, shutdown: CancellationToken) {
    let rt = r.resource();
    loop {
        let mut next = None::<Duration>;
        let revision = match client.list(rt, None, &ListOptions::default()).await {
            Ok(list) => {
                for obj in &list.items {
                    match r.reconcile(&client, obj).await {
                        Ok(Action::Done) => {}
                        Ok(Action::RequeueAfter(d)) => next = Some(next.map_or(d, |n| n.min(d))),
                        Err(e) => {
                            tracing::warn!(kind = rt.kind, name = %obj["metadata"]["name"], error = %e, "reconcile failed");
                            next = Some(ERROR_BACKOFF);
                        }
                    }
                }
                list.resource_version.to_string()
            }
            Err(e) => {
                tracing::warn!(kind = rt.kind, error = %e, "list failed");
                next = Some(ERROR_BACKOFF);
                String::new()
            }
        };
        let wait = next.unwrap_or(Duration::from_secs(300));
        let opts = WatchOptions {
            resource_version: revision,
            ..Default::default()
        };
        let mut watches = Vec::new();
        for kind in std::iter::once(rt).chain(r.also_watch().iter().copied()) {
            match client.watch(kind, None, &opts).await {
                Ok(w) => watches.push(w),
                Err(_) => break,
            }
        }
        if watches.len() == 1 + r.also_watch().len() {
            let changes = watches.iter_mut().map(|w| Box::pin(w.next()));
            tokio::select! {
                _ = futures_util::future::select_all(changes) => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(ERROR_BACKOFF.min(wait)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
