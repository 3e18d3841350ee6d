//! The store's disk: sled, tuned for flash, and the sync sled leaves out. sled writes its log
//! with `pwrite` and `sync_file_range`, which neither persists the file's size nor flushes
//! the drive's write cache; after sled's flush, [`Disk::sync`] calls `fdatasync` on the log
//! file, so a write survives power loss once it is acknowledged, as etcd's do.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::envelope::{self, Body, EnvelopeError, Record};
use super::{KeyPrefix, Object, ObjectKey, StoreError};

/// sled's page cache. Reads are served from the store's own in-memory copy, so sled's cache
/// only holds pages a write is about to change.
const CACHE_BYTES: u64 = 1 << 20;

/// How long opening waits for sled's lock held by this process's closed database.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// An object read back from disk, with how many parts its record names.
struct Stored {
    object: Arc<Object>,
    parts: u32,
}

/// Every object on disk, as [`Disk::load`] finds them.
pub(super) struct Loaded {
    pub(super) objects: BTreeMap<ObjectKey, Arc<Object>>,
    /// How many parts each object stored in parts has (those stored inline are absent).
    pub(super) parts: HashMap<ObjectKey, u32>,
    /// The highest revision any object carries.
    pub(super) newest: u64,
}

/// sled plus its log file, for the sync.
pub(super) struct Disk {
    db: sled::Db,
    log: File,
    syncs: AtomicU64,
}

impl Disk {
    /// Opens (or creates) the database in `dir` and makes its files' names durable.
    pub(super) fn open(dir: &Path) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            // No background flushes: every acknowledged write flushes (and syncs) itself,
            // and nothing is written while the cluster is idle.
            .flush_every_ms(None)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(CACHE_BYTES);
        // sled's lock on its directory goes with the last of its background jobs, which can
        // outlive a closed database by moments; another process holding it fails here.
        let deadline = Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        // sled keeps everything in one log file, `db`, beside its `conf`.
        let log = File::open(dir.join("db")).map_err(StoreError::Io)?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::Io)?;
        Ok(Self {
            db,
            log,
            syncs: AtomicU64::new(0),
        })
    }

    /// Reads every object.
    pub(super) fn load(&self) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded {
            objects: BTreeMap::new(),
            parts: HashMap::new(),
            newest: 0,
        };
        for item in self.db.scan_prefix(KeyPrefix::all().as_str()) {
            let (k, v) = item?;
            let key = ObjectKey::from_raw(String::from_utf8_lossy(&k).into_owned());
            let stored = self.decode(&key, &v)?;
            loaded.newest = loaded.newest.max(stored.object.revision);
            if stored.parts > 0 {
                loaded.parts.insert(key.clone(), stored.parts);
            }
            loaded.objects.insert(key, stored.object);
        }
        Ok(loaded)
    }

    fn decode(&self, key: &ObjectKey, bytes: &[u8]) -> Result<Stored, StoreError> {
        let record = Record::decode(bytes)?;
        let parts = record.parts();
        let stored = match record.body {
            Body::Inline(stored) => stored,
            Body::Parts { len, parts } => {
                let missing = |part| EnvelopeError::MissingPart {
                    key: key.to_string(),
                    part,
                    parts,
                };
                // `Record::decode` bounded len by MAX_JSON_BYTES.
                let mut stored = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                for i in 0..parts {
                    let part = self
                        .db
                        .get(envelope::part_key(key.as_str(), i))?
                        .ok_or_else(|| missing(i))?;
                    stored.extend_from_slice(&part);
                }
                if u64::try_from(stored.len()).ok() != Some(len) {
                    return Err(missing(parts).into());
                }
                stored
            }
        };
        let revision = record.revision;
        let json = record.encoding.json(stored)?;
        let value = serde_json::from_slice(&json)?;
        Ok(Stored {
            object: Arc::new(Object {
                revision,
                value,
                size: json.len(),
            }),
            parts,
        })
    }

    /// Reads a counter kept under `key` (0 when absent).
    pub(super) fn read_u64(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(key)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Applies writes to sled's memory, atomically; [`Disk::sync`] makes them durable.
    ///
    /// A lone write goes in by itself: sled recovers a prefix of its log, so one write is
    /// atomic anyway, and a sled batch costs two extra log writes (it seals the log buffer
    /// before and after its manifest), which would double what every change writes.
    pub(super) fn apply(&self, writes: Writes) -> Result<(), StoreError> {
        let mut writes = writes.0;
        if writes.len() > 1 {
            let mut batch = sled::Batch::default();
            for (key, value) in writes {
                match value {
                    Some(v) => batch.insert(key, v),
                    None => batch.remove(key),
                }
            }
            return Ok(self.db.apply_batch(batch)?);
        }
        match writes.pop() {
            Some((key, Some(value))) => drop(self.db.insert(key, value)?),
            Some((key, None)) => drop(self.db.remove(key)?),
            None => {}
        }
        Ok(())
    }

    /// Writes out everything applied so far and waits until it is on stable storage.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.log.sync_data().map_err(StoreError::Io)?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many keys start with `prefix`.
    #[cfg(test)]
    pub(super) fn count_prefix(&self, prefix: &[u8]) -> usize {
        self.db.scan_prefix(prefix).count()
    }

    /// How many syncs have completed.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// Writes to apply together: each key with its new value, or `None` to remove it.
#[derive(Default)]
pub(super) struct Writes(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Writes {
    pub(super) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.push((key.into(), Some(value.into())));
    }

    pub(super) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.0.push((key.into(), None));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Stages writing `json` as the object at `key` at `revision`, removing parts of the
/// replaced version (`old_parts` of them) that the new one does not overwrite. Returns how
/// many parts the new version has (0 when it is stored inline).
pub(super) fn stage_put(
    batch: &mut Writes,
    key: &ObjectKey,
    revision: u64,
    json: &[u8],
    old_parts: u32,
) -> Result<u32, StoreError> {
    let (record, parts) = envelope::encode(revision, json)?;
    let mut written = 0u32;
    for part in parts {
        batch.insert(envelope::part_key(key.as_str(), written), part);
        written = written.saturating_add(1);
    }
    for i in written..old_parts {
        batch.remove(envelope::part_key(key.as_str(), i));
    }
    batch.insert(key.as_str(), record);
    Ok(written)
}

/// Stages removing the object at `key` and its `parts`.
pub(super) fn stage_delete(batch: &mut Writes, key: &ObjectKey, parts: u32) {
    for i in 0..parts {
        batch.remove(envelope::part_key(key.as_str(), i));
    }
    batch.remove(key.as_str());
}
