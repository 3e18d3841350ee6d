//! How the shared informers' changes move the scheduler's state, as upstream's
//! `eventhandlers.go` does: a bound pod is counted on its node (confirming an assumption), a
//! pod gone or finished stops being counted and may let waiting pods fit, a pending pod of
//! this scheduler is queued, and a node added or changed in a way the plugins read moves the
//! pods that fit nowhere back to be tried. Handlers run on the informers' tasks and only
//! update memory.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::queue::SchedulingQueue;
use super::snapshot::{PodKey, Snapshot};
use super::PlacedPod;
use crate::client::informer::{key_of, Change};
use crate::resources::node;

/// The scheduler name this scheduler serves, as upstream's default profile.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// The snapshot and the queue, changed together under one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) snapshot: Snapshot,
    pub(crate) queue: SchedulingQueue,
    /// Where the next search for feasible nodes starts.
    pub(crate) next_start: usize,
}

/// Whether the pod waits for this scheduler: no node yet, our scheduler name, no
/// scheduling gates, not being deleted.
pub(crate) fn is_pending(p: &Pod) -> bool {
    let Some(spec) = p.spec.as_ref() else {
        return false;
    };
    let unbound = spec.node_name.as_deref().unwrap_or("").is_empty();
    let ours = matches!(spec.scheduler_name.as_deref(), None | Some(SCHEDULER_NAME));
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    unbound && ours && !gated && p.metadata.deletion_timestamp.is_none()
}

/// The node a pod holds resources on: bound and not Succeeded or Failed.
fn holding_node(p: &Pod) -> Option<&str> {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Whether a change to a pending pod could change its decision (upstream skips updates
/// that touch only status and bookkeeping, such as the scheduler's own condition).
fn pod_update_matters(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec || old.metadata.labels != new.metadata.labels
}

/// What the plugins read of a node, to tell a heartbeat from a change that matters.
fn node_update_matters(old: &Node, new: &Node) -> bool {
    let ready = |n: &Node| node::ready_condition(n).map(|c| c.status.clone());
    let allocatable = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
        || allocatable(old) != allocatable(new)
        || ready(old) != ready(new)
}

impl State {
    /// Applies a pod change.
    pub(crate) fn on_pod(&mut self, change: &Change<Pod>) {
        let pod = change.object();
        let key: PodKey = key_of(&**pod);
        if let Change::Deleted(_) = change {
            self.queue.delete(&key);
            if self.snapshot.remove_pod(&key) {
                self.queue.move_all();
            }
            return;
        }
        if let Some(node) = holding_node(pod) {
            self.queue.delete(&key);
            self.snapshot.set_pod(key, node, PlacedPod::of(pod));
            return;
        }
        if self.snapshot.is_assumed(&key) {
            // Our binding is in flight; this is an older state of the pod.
            return;
        }
        if self.snapshot.remove_pod(&key) {
            // It finished: its room is free.
            self.queue.delete(&key);
            self.queue.move_all();
            return;
        }
        if !is_pending(pod) {
            self.queue.delete(&key);
            return;
        }
        if let Change::Updated { old, new } = change {
            if pod_update_matters(old, new) {
                self.queue.move_one(&key);
            }
        }
        self.queue.add(key);
    }

    /// Applies a node change.
    pub(crate) fn on_node(&mut self, change: &Change<Node>) {
        match change {
            Change::Added(node) => {
                self.snapshot.set_node(node.clone());
                self.queue.move_all();
            }
            Change::Updated { old, new } => {
                self.snapshot.set_node(new.clone());
                if node_update_matters(old, new) {
                    self.queue.move_all();
                }
            }
            Change::Deleted(node) => {
                self.snapshot
                    .remove_node(node.metadata.name.as_deref().unwrap_or(""));
            }
        }
    }

    /// Moves pods whose wait is over back to active.
    pub(crate) fn flush(&mut self) {
        self.queue.flush(Instant::now());
    }
}
