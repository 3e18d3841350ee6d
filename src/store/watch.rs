//! A watch on one key range: first its backlog (the current objects, for a watch without a
//! revision), then every change from the shared history as it is published. A watcher that
//! falls behind the history window is ended and the client re-lists, as with
//! kube-apiserver's watch cache.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

use super::hub::{Event, Hub};
use super::key::KeyPrefix;

/// Why a watch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The watcher fell behind the history window.
    Lagged,
    /// The store shut down.
    Closed,
}

/// A stream of changes under one prefix.
pub struct Watch {
    prefix: KeyPrefix,
    backlog: VecDeque<Arc<Event>>,
    /// Weak: an open watch does not keep a dropped store's state alive.
    hub: Weak<Mutex<Hub>>,
    published: watch::Receiver<u64>,
    progress: u64,
}

impl Watch {
    pub(super) fn new(
        prefix: KeyPrefix,
        backlog: Vec<Arc<Event>>,
        hub: Weak<Mutex<Hub>>,
        published: watch::Receiver<u64>,
        progress: u64,
    ) -> Self {
        Self {
            prefix,
            backlog: backlog.into(),
            hub,
            published,
            progress,
        }
    }

    /// Events already queued (for a watch without a revision: the current objects).
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// The revision up to which this watcher has seen every change (for bookmarks).
    pub fn progress(&self) -> u64 {
        self.progress
    }

    /// The next change under the prefix.
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchEnd> {
        loop {
            while let Some(e) = self.backlog.pop_front() {
                self.progress = self.progress.max(e.revision);
                if e.key.is_in(&self.prefix) {
                    return Ok(e);
                }
            }
            // Mark the current revision seen before reading the history, so a change
            // published in between still wakes the wait below.
            self.published.borrow_and_update();
            let more = {
                let Some(hub) = self.hub.upgrade() else {
                    return Err(WatchEnd::Closed);
                };
                let hub = hub.lock().unwrap_or_else(|p| p.into_inner());
                hub.events_after(self.progress)
            };
            match more {
                Ok(events) if !events.is_empty() => self.backlog = events.into(),
                Ok(_) => {
                    if self.published.changed().await.is_err() {
                        return Err(WatchEnd::Closed);
                    }
                }
                Err(_) => return Err(WatchEnd::Lagged),
            }
        }
    }
}
