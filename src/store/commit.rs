//! Group commit. Writers apply their change to sled's in-memory state under the writer lock
//! and queue a [`PendingWrite`]; one thread takes the whole queue, flushes and syncs once (`fdatasync`),
//! publishes the changes in revision order, and only then acknowledges each writer. While it
//! flushes, the next batch gathers, so a burst of N writers costs a handful of flushes.
//! While no write waits, the same thread lets the watch history's old changes age out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::hub::{Event, Hub};
use super::{Object, ObjectKey, StoreError};

/// The idle commit thread wakes at most this often to age out history.
const EXPIRY_STEP: Duration = Duration::from_secs(1);

/// A change applied in memory, waiting to be made durable and published.
pub(super) struct PendingWrite {
    pub(super) event: Event,
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// State guarded by the writer lock.
pub(super) struct WriteState {
    pub(super) revision: u64,
    pub(super) ceiling: u64,
    /// The latest state of ephemeral kinds (their only copy).
    pub(super) ephemeral: BTreeMap<ObjectKey, Arc<Object>>,
    /// The latest state of durable keys written but not yet published to the hub (`None`
    /// for a delete), with the writing revision: with the hub, the current state of every
    /// durable key, so a write never reads the disk.
    pub(super) unpublished: HashMap<ObjectKey, (u64, Option<Arc<Object>>)>,
    /// How many parts each object stored in parts has on disk (inline ones are absent).
    pub(super) parts: HashMap<ObjectKey, u32>,
    pub(super) pending: Vec<PendingWrite>,
    pub(super) needs_flush: bool,
    pub(super) failed: bool,
    pub(super) stopping: bool,
    /// JSON bytes of every object held now, durable and ephemeral.
    pub(super) stored_bytes: usize,
    /// The most `stored_bytes` may grow to.
    pub(super) quota: usize,
}

impl WriteState {
    pub(super) fn new(
        revision: u64,
        stored_bytes: usize,
        quota: usize,
        parts: HashMap<ObjectKey, u32>,
    ) -> Self {
        Self {
            unpublished: HashMap::new(),
            parts,
            stored_bytes,
            quota,
            revision,
            // The first write of this run persists a new ceiling: revisions handed out by
            // ephemeral writes of an earlier run are never reused.
            ceiling: revision,
            ephemeral: BTreeMap::new(),
            pending: Vec::new(),
            needs_flush: false,
            failed: false,
            stopping: false,
        }
    }
}

/// What the writers and the commit thread share.
pub(super) struct Shared {
    pub(super) disk: super::disk::Disk,
    pub(super) writer: Mutex<WriteState>,
    pub(super) wake: Condvar,
    pub(super) hub: Arc<Mutex<Hub>>,
}

/// Owns the commit thread; dropping it drains the queue and joins the thread.
pub(super) struct Committer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(super) fn start(shared: Arc<Shared>) -> Self {
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("bramble-commit".into())
            .spawn(move || run(&s))
            .ok();
        if thread.is_none() {
            tracing::error!("could not start the store's commit thread; writes will fail");
            shared
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .failed = true;
        }
        Self { shared, thread }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stopping = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let (batch, needs_flush) = {
            let mut w = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            while w.pending.is_empty() && !w.stopping {
                // Lock order: the writer lock, then the hub's.
                let expiry = shared
                    .hub
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .next_expiry(Instant::now());
                match expiry {
                    None => w = shared.wake.wait(w).unwrap_or_else(|p| p.into_inner()),
                    // While idle, old changes leave the history as they age out, at most
                    // once a second.
                    Some(d) => {
                        let (guard, waited) = shared
                            .wake
                            .wait_timeout(w, d.max(EXPIRY_STEP))
                            .unwrap_or_else(|p| p.into_inner());
                        w = guard;
                        if waited.timed_out() {
                            let forgotten = shared
                                .hub
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .forget_before(Instant::now());
                            if forgotten > 0 {
                                give_back_freed_memory();
                            }
                        }
                    }
                }
            }
            if w.pending.is_empty() {
                return;
            }
            let needs_flush = std::mem::take(&mut w.needs_flush);
            (std::mem::take(&mut w.pending), needs_flush)
        };
        let flushed = if needs_flush {
            shared.disk.sync()
        } else {
            Ok(())
        };
        match flushed {
            Ok(()) => {
                {
                    let mut hub = shared.hub.lock().unwrap_or_else(|p| p.into_inner());
                    for p in &batch {
                        hub.publish(p.event.clone());
                    }
                }
                // Published: the hub now answers for these keys, unless a later write,
                // still unpublished, replaced them.
                if let Some(last) = batch.last().map(|p| p.event.revision) {
                    let mut w = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
                    w.unpublished.retain(|_, (revision, _)| *revision > last);
                }
                for p in batch {
                    let _ = p.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store flush failed; refusing further writes");
                shared
                    .writer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .failed = true;
                for p in batch {
                    let _ = p.done.send(Err(StoreError::Failed));
                }
            }
        }
    }
}

/// Hands pages freed since the last burst back to the system once the store is quiet. glibc's
/// allocator keeps freed pages in its per-thread arenas until asked to let them go; musl's,
/// which boards run, returns them by itself.
fn give_back_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions; it only releases free pages of malloc's
    // arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
