//! The published state: every durable object in memory, a bounded history of recent changes
//! and a broadcast of new ones. Reads and watches are served from here, never from disk, so
//! a list and the watch that follows it see one consistent sequence of revisions (what
//! kube-apiserver's watch cache does).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tokio::sync::broadcast;

use super::key::{KeyPrefix, ObjectKey};
use super::Object;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed; the object is its last state, stamped with the deleting revision.
    Deleted,
}

/// One change, as watchers see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Revision of the change.
    pub revision: u64,
    /// What happened.
    pub kind: EventType,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (for deletes: its last state).
    pub object: Arc<Object>,
    /// The object before the change, so selector-filtered watches can tell "stopped matching".
    pub previous: Option<Arc<Object>>,
}

/// Asked to watch from a revision older than the history window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    /// The oldest revision a watch may start from now.
    pub oldest: u64,
}

/// Changes already in history plus the live feed that follows them.
pub(super) type Subscription = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

pub(super) struct Hub {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    history: VecDeque<Arc<Event>>,
    capacity: usize,
    /// Every change after this revision is in `history`.
    complete_after: u64,
    revision: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    pub(super) fn new(
        objects: BTreeMap<ObjectKey, Arc<Object>>,
        revision: u64,
        capacity: usize,
    ) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self {
            objects,
            history: VecDeque::new(),
            capacity: capacity.max(1),
            complete_after: revision,
            revision,
            tx,
        }
    }

    pub(super) fn revision(&self) -> u64 {
        self.revision
    }

    pub(super) fn get(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.objects.get(key).cloned()
    }

    pub(super) fn list(&self, prefix: &KeyPrefix) -> Vec<Arc<Object>> {
        self.entries(prefix).map(|(_, o)| o.clone()).collect()
    }

    pub(super) fn entries<'a>(
        &'a self,
        prefix: &'a KeyPrefix,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Object>)> + 'a {
        let start = ObjectKey::from_raw(prefix.as_str().to_string());
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.is_in(prefix))
    }

    /// Applies one durable change and tells the watchers.
    pub(super) fn publish(&mut self, event: Event) {
        match event.kind {
            EventType::Deleted => {
                self.objects.remove(&event.key);
            }
            _ => {
                self.objects.insert(event.key.clone(), event.object.clone());
            }
        }
        self.revision = self.revision.max(event.revision);
        let event = Arc::new(event);
        if self.history.len() == self.capacity {
            if let Some(old) = self.history.pop_front() {
                self.complete_after = old.revision;
            }
        }
        self.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// Subscribes to changes after `from`, returning the backlog already in history.
    pub(super) fn subscribe_from(&self, from: u64) -> Result<Subscription, TooOld> {
        if from < self.complete_after {
            return Err(TooOld {
                oldest: self.complete_after,
            });
        }
        let backlog = self
            .history
            .iter()
            .filter(|e| e.revision > from)
            .cloned()
            .collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// Whether anything under `prefix` changed after `from`.
    pub(super) fn changed_since(&self, prefix: &KeyPrefix, from: u64) -> Result<bool, TooOld> {
        if from < self.complete_after {
            return Err(TooOld {
                oldest: self.complete_after,
            });
        }
        Ok(self
            .history
            .iter()
            .any(|e| e.revision > from && e.key.is_in(prefix)))
    }

    /// Subscribes to changes after the current revision.
    pub(super) fn subscribe_now(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
