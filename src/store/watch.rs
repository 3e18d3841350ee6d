//! A watch on one key range: first its backlog (history since the requested revision, or the
//! current objects), then live changes. A watcher that falls too far behind is ended, and the
//! client re-lists, as with kube-apiserver.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::hub::Event;
use super::key::KeyPrefix;

/// Why a watch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The watcher fell behind the broadcast buffer.
    Lagged,
    /// The store shut down.
    Closed,
}

/// A stream of changes under one prefix.
pub struct Watch {
    prefix: KeyPrefix,
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    progress: u64,
}

impl Watch {
    pub(super) fn new(
        prefix: KeyPrefix,
        backlog: Vec<Arc<Event>>,
        rx: broadcast::Receiver<Arc<Event>>,
        progress: u64,
    ) -> Self {
        Self {
            prefix,
            backlog: backlog.into(),
            rx,
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
        while let Some(e) = self.backlog.pop_front() {
            self.progress = self.progress.max(e.revision);
            if e.key.is_in(&self.prefix) {
                return Ok(e);
            }
        }
        loop {
            match self.rx.recv().await {
                Ok(e) => {
                    if e.revision <= self.progress {
                        continue; // already delivered from the backlog
                    }
                    self.progress = e.revision;
                    if e.key.is_in(&self.prefix) {
                        return Ok(e);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Err(WatchEnd::Lagged),
                Err(broadcast::error::RecvError::Closed) => return Err(WatchEnd::Closed),
            }
        }
    }
}
