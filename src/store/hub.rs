//! The published state: every durable object in memory, a bounded history of recent changes
//! and a signal when a new one lands. Reads and watches are served from here, never from
//! disk, so a list and the watch that follows it see one consistent sequence of revisions
//! (what kube-apiserver's watch cache does).
//!
//! The history is bounded in entries (upstream's watch cache capacity), in bytes, so no
//! sequence of writes can grow it beyond its budget, and in age, so a burst of changes does
//! not hold its old versions in memory once the cluster is quiet again. Watchers read from
//! the history itself rather than from a queue of their own: one that falls behind the window is ended (410
//! Gone, as upstream) and never holds changes the history has dropped.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

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

impl Event {
    /// What keeping this event costs: the JSON size of both states it holds.
    pub fn size(&self) -> usize {
        self.object
            .size
            .saturating_add(self.previous.as_ref().map_or(0, |p| p.size))
    }
}

/// How much recent history the hub keeps for watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// At most this many changes.
    pub entries: usize,
    /// At most this many bytes of objects (JSON size of each change's new and old state);
    /// the newest change is kept even when it alone is larger.
    pub bytes: usize,
    /// Changes older than this are forgotten, as etcd forgets revisions older than
    /// kube-apiserver's compaction interval: watches and list continuations from before
    /// then get 410 Gone.
    pub age: Duration,
}

impl HistoryLimits {
    /// The default byte budget: room for a few dozen of the largest objects the store
    /// accepts, small next to a 1 GB board's memory.
    pub const DEFAULT_BYTES: usize = 32 << 20;
    /// The default age: kube-apiserver's default etcd compaction interval.
    pub const DEFAULT_AGE: Duration = Duration::from_secs(5 * 60);
}

/// How many bytes of events one watcher takes from the history at a time: a watcher that
/// stops reading holds at most this much (plus one event) beyond the shared history.
const BATCH_BYTES: usize = 1 << 20;

/// Asked to watch from a revision older than the history window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    /// The oldest revision a watch may start from now.
    pub oldest: u64,
}

pub(super) struct Hub {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    /// The JSON bytes of every object in `objects`.
    object_bytes: usize,
    /// In revision order, with when each was published.
    history: VecDeque<(Instant, Arc<Event>)>,
    history_bytes: usize,
    limits: HistoryLimits,
    /// Every change after this revision is in `history`.
    complete_after: u64,
    revision: u64,
    /// The newest published revision, for watchers waiting on the next change.
    tx: watch::Sender<u64>,
}

impl Hub {
    pub(super) fn new(
        objects: BTreeMap<ObjectKey, Arc<Object>>,
        revision: u64,
        limits: HistoryLimits,
    ) -> Self {
        let (tx, _) = watch::channel(revision);
        let object_bytes = objects
            .values()
            .fold(0usize, |sum, o| sum.saturating_add(o.size));
        Self {
            objects,
            object_bytes,
            history: VecDeque::new(),
            history_bytes: 0,
            limits: HistoryLimits {
                entries: limits.entries.max(1),
                ..limits
            },
            complete_after: revision,
            revision,
            tx,
        }
    }

    /// The bytes of objects the history holds now.
    pub(super) fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    pub(super) fn revision(&self) -> u64 {
        self.revision
    }

    /// The JSON bytes of every object held.
    pub(super) fn object_bytes(&self) -> usize {
        self.object_bytes
    }

    /// Every object, in key order.
    pub(super) fn objects(&self) -> &BTreeMap<ObjectKey, Arc<Object>> {
        &self.objects
    }

    /// Moves the revision forward to `revision` with no change to any object (everything up
    /// to it has been published), and tells the watchers.
    pub(super) fn advance(&mut self, revision: u64) {
        if revision > self.revision {
            self.revision = revision;
            self.tx.send_replace(self.revision);
        }
    }

    pub(super) fn get(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.objects.get(key).cloned()
    }

    pub(super) fn list(&self, prefix: &KeyPrefix) -> Vec<Arc<Object>> {
        self.entries(prefix).map(|(_, o)| o.clone()).collect()
    }

    pub(super) fn list_from(&self, prefix: &KeyPrefix, start: &str) -> Vec<Arc<Object>> {
        let from = ObjectKey::from_raw(prefix.as_str().max(start).to_string());
        self.objects
            .range(from..)
            .take_while(|(k, _)| k.is_in(prefix))
            .map(|(_, o)| o.clone())
            .collect()
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
        let old = match event.kind {
            EventType::Deleted => self.objects.remove(&event.key),
            _ => self.objects.insert(event.key.clone(), event.object.clone()),
        };
        self.object_bytes = self.object_bytes.saturating_sub(old.map_or(0, |o| o.size));
        if event.kind != EventType::Deleted {
            self.object_bytes = self.object_bytes.saturating_add(event.object.size);
        }
        self.revision = self.revision.max(event.revision);
        self.history_bytes = self.history_bytes.saturating_add(event.size());
        let now = Instant::now();
        self.history.push_back((now, Arc::new(event)));
        while self.history.len() > self.limits.entries
            || (self.history_bytes > self.limits.bytes && self.history.len() > 1)
        {
            self.forget_oldest();
        }
        self.forget_before(now);
        self.tx.send_replace(self.revision);
    }

    /// Forgets the changes that were older than the history's age limit at `now`; returns
    /// how many went.
    pub(super) fn forget_before(&mut self, now: Instant) -> usize {
        let mut forgotten = 0;
        while self
            .history
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.limits.age)
        {
            self.forget_oldest();
            forgotten += 1;
        }
        forgotten
    }

    /// How long until the oldest change the history holds is forgotten for its age.
    pub(super) fn next_expiry(&self, now: Instant) -> Option<Duration> {
        self.history.front().map(|(at, _)| {
            self.limits
                .age
                .saturating_sub(now.saturating_duration_since(*at))
        })
    }

    fn forget_oldest(&mut self) {
        if let Some((_, old)) = self.history.pop_front() {
            self.history_bytes = self.history_bytes.saturating_sub(old.size());
            self.complete_after = old.revision;
        }
    }

    /// Changes after `from`, oldest first, about [`BATCH_BYTES`] at a time (at least one
    /// when there is one); `TooOld` once `from` has left the window.
    pub(super) fn events_after(&self, from: u64) -> Result<Vec<Arc<Event>>, TooOld> {
        if from < self.complete_after {
            return Err(TooOld {
                oldest: self.complete_after,
            });
        }
        let start = self.history.partition_point(|(_, e)| e.revision <= from);
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for (_, e) in self.history.range(start..) {
            if !out.is_empty() && bytes >= BATCH_BYTES {
                break;
            }
            bytes = bytes.saturating_add(e.size());
            out.push(e.clone());
        }
        Ok(out)
    }

    /// Checks that changes after `from` are still in the window.
    pub(super) fn check_from(&self, from: u64) -> Result<(), TooOld> {
        if from < self.complete_after {
            return Err(TooOld {
                oldest: self.complete_after,
            });
        }
        Ok(())
    }

    /// Whether anything under `prefix` changed after `from`.
    pub(super) fn changed_since(&self, prefix: &KeyPrefix, from: u64) -> Result<bool, TooOld> {
        self.check_from(from)?;
        Ok(self
            .history
            .iter()
            .any(|(_, e)| e.revision > from && e.key.is_in(prefix)))
    }

    /// A signal that changes whenever a new revision is published.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// What the hub holds now, for monitoring: one pass over the objects in key order, so
    /// each resource's objects are counted as one run.
    pub(super) fn census(&self) -> Census {
        let mut resources: Vec<(String, usize)> = Vec::new();
        let mut object_bytes = 0usize;
        for (key, object) in &self.objects {
            object_bytes = object_bytes.saturating_add(object.size);
            let resource = resource_of(key.as_str());
            match resources.last_mut() {
                Some((r, n)) if r == resource => *n += 1,
                _ => resources.push((resource.to_string(), 1)),
            }
        }
        Census {
            revision: self.revision,
            resources,
            object_bytes,
            history_entries: self.history.len(),
            history_bytes: self.history_bytes,
            watchers: self.tx.receiver_count(),
        }
    }
}

/// The `group/plural` part of a key (`o/apps/deployments/ns/name` → `apps/deployments`).
fn resource_of(key: &str) -> &str {
    let rest = key.strip_prefix("o/").unwrap_or(key);
    let mut slashes = rest.match_indices('/').map(|(i, _)| i);
    let _group_end = slashes.next();
    slashes.next().map_or(rest, |end| &rest[..end])
}

/// A snapshot of the hub's size, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// The newest published revision.
    pub revision: u64,
    /// Objects per resource (`group/plural`, the group empty for the core group), in key
    /// order.
    pub resources: Vec<(String, usize)>,
    /// The JSON bytes of every object.
    pub object_bytes: usize,
    /// Changes in the watch history.
    pub history_entries: usize,
    /// The bytes the watch history holds.
    pub history_bytes: usize,
    /// Watches waiting on the next change.
    pub watchers: usize,
}
