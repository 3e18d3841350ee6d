//! Controllers, as kube-controller-manager's: each watches its kind through the process's
//! shared informers (one list and watch per kind, an in-memory cache every controller reads)
//! and reconciles one object at a time from a work queue that informer handlers fill
//! ([`runtime`]). Every controller implements [`runtime::Controller`] on typed objects.
//! Nothing is listed again when one object changes.

pub mod certificates;
pub mod clusterrole_aggregation;
pub mod crd;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod event_ttl;
mod expectations;
pub mod garbage_collector;
mod history;
pub mod job;
pub mod namespace;
pub mod node_condition_taints;
pub mod node_ipam;
pub mod node_lifecycle;
mod pod_changes;
mod pod_control;
pub mod pods;
mod queue;
pub mod replicaset;
pub mod runtime;
pub mod service_accounts;
pub mod service_lb;
pub mod statefulset;
mod status_patch;
pub mod taint_eviction;
pub mod token_cleaner;
pub mod token_secrets;
pub mod volume_binding;
pub mod work_queue;

use std::time::Duration;

use crate::client::informer::{Informer, Unserved};
use work_queue::WorkQueue;

/// What a reconcile wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Look again after this long even without a change.
    RequeueAfter(Duration),
}

/// A controller wired to the informers, its primary informer and its work queue: what
/// [`runtime::run`] takes.
pub type Wired<X, K> = Result<(X, Informer<K>, WorkQueue), Unserved>;
