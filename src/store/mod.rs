//! Versioned object store over one of two backends, with reads and watches served from the
//! published state in [`hub`], which only ever holds durable changes. Objects are held in
//! memory once each, as compact JSON text ([`Object`]).
//!
//! The sled backend (one server): one global revision stamped into every object's
//! `metadata.resourceVersion`, read-modify-write under one writer lock (optimistic concurrency
//! is checked by the caller's closure against the latest state), and durability before
//! acknowledgement with group commit: writers queue behind one flush thread, so concurrent
//! writers share a single `fsync`. Ephemeral kinds (leases, events) never touch the disk.
//!
//! The etcd backend ([`etcd`], several servers sharing one cluster): revisions are etcd's,
//! writes are compare-and-swap transactions, and the hub follows etcd's watch.

mod commit;
mod disk;
pub mod envelope;
mod etcd;
mod hub;
pub mod key;
mod object;
mod pruned;
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::oneshot;

use commit::{Committer, PendingWrite, Shared, WriteState};
use disk::Disk;
use envelope::EnvelopeError;
pub use etcd::{EtcdConfig, EtcdTls};
use hub::Hub;
pub use hub::{Census, Event, EventType, HistoryLimits, TooOld};
pub use key::{KeyPrefix, ObjectKey};
pub use object::Object;
pub use pruned::Paths;
pub use watch::{Watch, WatchEnd};

/// Revision key: the last revision a durable write handed out, as stores kept it before the
/// ceiling existed; still read, so their revisions carry on. The ceiling makes it redundant.
const REVISION_KEY: &[u8] = b"m/revision";
/// Ceiling key: no revision at or below it will ever be handed out again after a restart,
/// even one used only by an ephemeral write that never reached the disk.
const CEILING_KEY: &[u8] = b"m/ceiling";
/// How far the ceiling runs ahead, so ephemeral writes rarely cost a disk write.
const CEILING_STEP: u64 = 10_000;

/// The default quota on the JSON bytes of all objects together. etcd's default is 2 GiB;
/// every object here also lives in memory, and boards have far less of it.
pub const DEFAULT_QUOTA_BYTES: usize = 256 << 20;

/// The largest object the store accepts, as JSON: etcd's default request limit (1.5 MiB),
/// which bounds every kind upstream stores.
pub const MAX_OBJECT_BYTES: usize = 3 << 19;

/// What a read-modify-write wants done.
#[derive(Debug)]
pub enum Mutation {
    /// Write this object.
    Put(Value),
    /// Remove the object.
    Delete,
    /// Nothing changed: no new revision, no event.
    Unchanged,
}

/// What a mutation did once it was durable.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `None` when nothing changed.
    pub kind: Option<EventType>,
    /// The object after the change (for a delete, its last state); `None` only when an
    /// unchanged mutation found no object.
    pub object: Option<Arc<Object>>,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed.
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    /// Opening or syncing the database's files failed.
    #[error("store I/O failed: {0}")]
    Io(std::io::Error),
    /// An object on disk could not be read.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// An object could not be encoded or decoded as JSON.
    #[error("stored object is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An earlier flush failed; the store refuses writes rather than acknowledge one it may
    /// lose.
    #[error("the store stopped accepting writes after a failed disk flush")]
    Failed,
    /// The write would take the objects over the store's quota (etcd's "database space
    /// exceeded"); deletes are always accepted.
    #[error("the store is full: its objects would take {needed} bytes, over its quota of {quota} bytes; delete objects to make room")]
    QuotaExceeded {
        /// What the objects would take with this write.
        needed: usize,
        /// The quota.
        quota: usize,
    },
    /// The object is larger than [`MAX_OBJECT_BYTES`].
    #[error("request is too large: the object is {size} bytes, the limit is {MAX_OBJECT_BYTES}")]
    TooLarge {
        /// Its size as JSON.
        size: usize,
    },
    /// The etcd settings are unusable (an endpoint URL, a TLS file).
    #[error("datastore settings: {0}")]
    EtcdConfig(String),
    /// An etcd endpoint could not be reached, or the connection broke.
    #[error("etcd at {endpoint} is unreachable: {reason}")]
    EtcdUnreachable {
        /// The endpoint's URL.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// The TLS handshake with an etcd endpoint failed.
    #[error("TLS with etcd at {endpoint} failed: {reason}")]
    EtcdTls {
        /// The endpoint's URL.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// etcd refused the request.
    #[error("etcd at {endpoint} answered: {message}")]
    Etcd {
        /// The endpoint's URL.
        endpoint: String,
        /// The gRPC status code etcd gave (14 unavailable, 11 compacted, ...).
        code: i64,
        /// etcd's own text.
        message: String,
    },
    /// An answer from etcd was not what its API describes.
    #[error("etcd at {endpoint} sent a malformed answer: {reason}")]
    EtcdMalformed {
        /// The endpoint's URL.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// A write etcd accepted did not come back through this server's watch in time, so it
    /// cannot be acknowledged with read-your-writes.
    #[error("the write at etcd revision {revision} did not reach this server's watch in time")]
    EtcdBehind {
        /// The write's revision.
        revision: u64,
    },
}

/// The object store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    hub: Arc<Mutex<Hub>>,
    backend: Backend,
}

/// Where the store keeps its objects.
#[derive(Clone)]
enum Backend {
    /// The embedded database, with its commit thread.
    Sled {
        shared: Arc<Shared>,
        _committer: Arc<Committer>,
    },
    /// An etcd cluster.
    Etcd(Arc<etcd::Backend>),
}

impl Store {
    /// Opens (or creates) the store in `dir`, keeping `history` recent changes (within the
    /// default byte budget) for watches.
    pub fn open(dir: &Path, history: usize) -> Result<Store, StoreError> {
        Self::open_with(
            dir,
            HistoryLimits {
                entries: history,
                bytes: HistoryLimits::DEFAULT_BYTES,
                age: HistoryLimits::DEFAULT_AGE,
            },
            DEFAULT_QUOTA_BYTES,
        )
    }

    /// Opens (or creates) the store in `dir`, keeping recent changes for watches within
    /// `history` and refusing writes that would take all objects over `quota` bytes.
    pub fn open_with(
        dir: &Path,
        history: HistoryLimits,
        quota: usize,
    ) -> Result<Store, StoreError> {
        let disk = Disk::open(dir)?;
        let loaded = disk.load()?;
        let objects = loaded.objects;
        let revision = disk
            .read_u64(REVISION_KEY)?
            .max(disk.read_u64(CEILING_KEY)?)
            .max(loaded.newest);
        let stored_bytes = objects.values().map(|o| o.size).sum();
        tracing::info!(
            objects = objects.len(),
            revision,
            stored_bytes,
            "store opened"
        );
        let hub = Arc::new(Mutex::new(Hub::new(objects, revision, history)));
        let shared = Arc::new(Shared {
            disk,
            writer: Mutex::new(WriteState::new(revision, stored_bytes, quota, loaded.parts)),
            wake: Default::default(),
            hub: hub.clone(),
        });
        let committer = Arc::new(Committer::start(shared.clone()));
        Ok(Store {
            hub,
            backend: Backend::Sled {
                shared,
                _committer: committer,
            },
        })
    }

    /// Opens the store on the etcd cluster of `config`: loads every object under its key
    /// prefix, then follows etcd's watch. Keeps recent changes for watches within `history`
    /// and refuses writes that would take all objects over `quota` bytes.
    pub async fn open_etcd(
        config: EtcdConfig,
        history: HistoryLimits,
        quota: usize,
    ) -> Result<Store, StoreError> {
        let (backend, hub) = etcd::Backend::open(config, history, quota).await?;
        Ok(Store {
            hub,
            backend: Backend::Etcd(backend),
        })
    }

    /// The newest published revision.
    pub fn revision(&self) -> u64 {
        self.hub().revision()
    }

    /// The bytes of objects the watch history holds now (at most its budget, or the one
    /// newest change when that alone is larger).
    pub fn history_bytes(&self) -> usize {
        self.hub().history_bytes()
    }

    /// How many times the store has made its writes durable (`fdatasync`).
    #[cfg(test)]
    pub(crate) fn syncs(&self) -> u64 {
        self.sled().disk.syncs()
    }

    /// The sled backend's shared state (tests of that backend only).
    #[cfg(test)]
    fn sled(&self) -> &Shared {
        match &self.backend {
            Backend::Sled { shared, .. } => shared,
            Backend::Etcd(_) => panic!("not a sled store"),
        }
    }

    /// Counts of what the store holds in memory, for monitoring.
    pub fn census(&self) -> Census {
        self.hub().census()
    }

    /// Reads one object.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.hub().get(key)
    }

    /// Lists objects under `prefix`, in key order, with the revision they are consistent at.
    pub fn list(&self, prefix: &KeyPrefix) -> (Vec<Arc<Object>>, u64) {
        let hub = self.hub();
        (hub.list(prefix), hub.revision())
    }

    /// Lists objects under `prefix` whose keys sort at or after `start` (a key's text; empty
    /// for all), in key order, with the revision they are consistent at.
    pub fn list_from(&self, prefix: &KeyPrefix, start: &str) -> (Vec<Arc<Object>>, u64) {
        let hub = self.hub();
        (hub.list_from(prefix, start), hub.revision())
    }

    /// Whether anything under `prefix` changed after revision `from` (for consistent paging).
    pub fn changed_since(&self, prefix: &KeyPrefix, from: u64) -> Result<bool, TooOld> {
        self.hub().changed_since(prefix, from)
    }

    /// Watches `prefix`. With `from`, delivers every change after that revision (or fails if
    /// it left the history window); without, starts with an `Added` event per current object.
    pub fn watch(&self, prefix: KeyPrefix, from: Option<u64>) -> Result<Watch, TooOld> {
        let hub = self.hub();
        match from {
            Some(rev) => {
                hub.check_from(rev)?;
                let shared = Arc::downgrade(&self.hub);
                Ok(Watch::new(prefix, Vec::new(), shared, hub.subscribe(), rev))
            }
            None => {
                let backlog = hub
                    .entries(&prefix)
                    .map(|(k, o)| Arc::new(initial_event(k.clone(), o.clone())))
                    .collect::<Vec<_>>();
                Ok(Watch::new(
                    prefix,
                    backlog,
                    Arc::downgrade(&self.hub),
                    hub.subscribe(),
                    hub.revision(),
                ))
            }
        }
    }

    /// Reads the latest state of `key` (including writes not yet acknowledged to others),
    /// lets `f` decide, and makes the result durable before returning. On sled `f` runs
    /// once, under the writer lock, so the read-modify-write is atomic; on etcd it runs
    /// again whenever another server changed the object first (optimistic concurrency), so it
    /// must decide from what it is given alone. Keep it quick.
    pub async fn mutate<E, F>(&self, key: &ObjectKey, ephemeral: bool, f: F) -> Result<Outcome, E>
    where
        F: FnMut(Option<&Object>) -> Result<Mutation, E>,
        E: From<StoreError>,
    {
        match &self.backend {
            Backend::Sled { shared, .. } => self.mutate_sled(shared, key, ephemeral, f).await,
            Backend::Etcd(etcd) => etcd.mutate(key, ephemeral, f).await,
        }
    }

    async fn mutate_sled<E, F>(
        &self,
        shared: &Shared,
        key: &ObjectKey,
        ephemeral: bool,
        f: F,
    ) -> Result<Outcome, E>
    where
        F: FnOnce(Option<&Object>) -> Result<Mutation, E>,
        E: From<StoreError>,
    {
        let (done, rx) = oneshot::channel();
        let outcome = {
            let mut w = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            if w.failed {
                return Err(StoreError::Failed.into());
            }
            let current = if ephemeral {
                w.ephemeral.get(key).cloned()
            } else {
                match w.unpublished.get(key) {
                    Some((_, state)) => state.clone(),
                    // Lock order: the writer lock, then the hub's (the commit thread never
                    // holds the hub's while taking the writer's).
                    None => self.hub().get(key),
                }
            };
            let mutation = f(current.as_deref())?;
            let revision = w.revision + 1;
            let (kind, object) = match mutation {
                Mutation::Unchanged => {
                    return Ok(Outcome {
                        kind: None,
                        object: current,
                    })
                }
                Mutation::Put(mut value) => {
                    set_resource_version(&mut value, revision);
                    let kind = if current.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    let object = Object::from_value(revision, &value)?;
                    drop(value);
                    let size = object.size;
                    if size > MAX_OBJECT_BYTES {
                        return Err(StoreError::TooLarge { size }.into());
                    }
                    let old = current.as_ref().map_or(0, |c| c.size);
                    let needed = (w.stored_bytes.saturating_sub(old)).saturating_add(size);
                    if size > old && needed > w.quota {
                        return Err(StoreError::QuotaExceeded {
                            needed,
                            quota: w.quota,
                        }
                        .into());
                    }
                    (kind, Arc::new(object))
                }
                Mutation::Delete => {
                    let Some(cur) = current.clone() else {
                        return Ok(Outcome {
                            kind: None,
                            object: None,
                        });
                    };
                    let mut value = cur.value();
                    set_resource_version(&mut value, revision);
                    (
                        EventType::Deleted,
                        Arc::new(Object::from_value(revision, &value)?),
                    )
                }
            };
            let mut batch = disk::Writes::default();
            if revision > w.ceiling {
                w.ceiling = revision + CEILING_STEP;
                batch.insert(CEILING_KEY, w.ceiling.to_be_bytes());
            }
            // For a durable kind: how many parts the key had and has now.
            let mut parts = None;
            if !ephemeral {
                let old_parts = w.parts.get(key).copied().unwrap_or(0);
                let new_parts = match kind {
                    EventType::Deleted => {
                        disk::stage_delete(&mut batch, key, old_parts);
                        0
                    }
                    _ => disk::stage_put(
                        &mut batch,
                        key,
                        revision,
                        object.json().as_bytes(),
                        old_parts,
                    )?,
                };
                parts = Some((old_parts, new_parts));
            }
            let durable = !batch.is_empty();
            if durable {
                shared.disk.apply(batch)?;
            }
            match parts {
                None if kind == EventType::Deleted => {
                    w.ephemeral.remove(key);
                }
                None => {
                    w.ephemeral.insert(key.clone(), object.clone());
                }
                Some((old_parts, new_parts)) => {
                    if new_parts > 0 {
                        w.parts.insert(key.clone(), new_parts);
                    } else if old_parts > 0 {
                        w.parts.remove(key);
                    }
                    let state = (kind != EventType::Deleted).then(|| object.clone());
                    w.unpublished.insert(key.clone(), (revision, state));
                }
            }
            w.revision = revision;
            let old = current.as_ref().map_or(0, |c| c.size);
            w.stored_bytes = match kind {
                EventType::Deleted => w.stored_bytes.saturating_sub(old),
                _ => w
                    .stored_bytes
                    .saturating_sub(old)
                    .saturating_add(object.size),
            };
            let event = Event {
                revision,
                kind,
                key: key.clone(),
                object: object.clone(),
                previous: current,
            };
            w.pending.push(PendingWrite { event, done });
            w.needs_flush |= durable;
            Outcome {
                kind: Some(kind),
                object: Some(object),
            }
        };
        shared.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(outcome),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Failed.into()),
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the hub lock leaves consistent data (each publish is one
        // insert/remove), so a poisoned lock is still usable.
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn initial_event(key: ObjectKey, object: Arc<Object>) -> Event {
    Event {
        revision: object.revision,
        kind: EventType::Added,
        key,
        object,
        previous: None,
    }
}

pub(super) fn set_resource_version(value: &mut Value, revision: u64) {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "resourceVersion".into(),
                Value::String(revision.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests;
