//! The API server's table of open tunnels, one per node, shared between the tunnel endpoint
//! (which adds them) and the kubelet client (which sends through them).
//!
//! A node has at most one tunnel: a newer one from the same node (the agent reconnected
//! after a link it took for dead, or restarted) replaces the older, whose connection is then
//! closed. A tunnel removes its own entry when its connection ends, and only its own: an
//! entry already replaced by a newer tunnel stays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::client::conn::http2::SendRequest;
use hyper::upgrade::Upgraded;
use tokio_util::sync::CancellationToken;

use super::handshake;
use crate::client::http::RequestBody;

/// Open tunnels by node name: a table of `T` with the replace and remove rules above.
pub struct TunnelTable<T> {
    entries: Arc<Mutex<HashMap<String, Entry<T>>>>,
    next_id: Arc<AtomicU64>,
}

impl<T> Clone for TunnelTable<T> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            next_id: self.next_id.clone(),
        }
    }
}

impl<T> Default for TunnelTable<T> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
            next_id: Arc::default(),
        }
    }
}

struct Entry<T> {
    id: u64,
    value: T,
    /// Cancelled when a newer tunnel replaces this one.
    replaced: CancellationToken,
}

/// One registered tunnel: its id in the table, and the token cancelled when a newer tunnel
/// of the same node replaces it.
#[derive(Debug)]
pub struct Registration {
    /// The entry's id, for [`TunnelTable::remove`].
    pub id: u64,
    /// Cancelled when the entry is replaced.
    pub replaced: CancellationToken,
}

impl<T: Clone> TunnelTable<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry<T>>> {
        // A panic while holding this lock aborts the process (`panic = "abort"`), so a
        // poisoned table is never observed; take its contents all the same.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `value` as `node`'s tunnel, replacing (and cancelling) any older one.
    pub fn insert(&self, node: &str, value: T) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let replaced = CancellationToken::new();
        let old = self.lock().insert(
            node.to_string(),
            Entry {
                id,
                value,
                replaced: replaced.clone(),
            },
        );
        if let Some(old) = old {
            old.replaced.cancel();
        }
        Registration { id, replaced }
    }

    /// Removes `node`'s entry if it is still the one registered as `id`.
    pub fn remove(&self, node: &str, id: u64) {
        let mut entries = self.lock();
        if entries.get(node).is_some_and(|e| e.id == id) {
            entries.remove(node);
        }
    }

    /// `node`'s tunnel, if it has one.
    pub fn get(&self, node: &str) -> Option<T> {
        self.lock().get(node).map(|e| e.value.clone())
    }

    /// The nodes with a tunnel, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }
}

/// The API server's tunnels: an HTTP/2 sender to each tunnelled node's kubelet.
pub type Tunnels = TunnelTable<SendRequest<RequestBody>>;

impl Tunnels {
    /// Runs the HTTP/2 client side of `node`'s freshly upgraded tunnel: registers its sender
    /// and serves the connection until it ends, is replaced or `shutdown`; then removes it.
    pub async fn serve(&self, node: String, upgraded: Upgraded, shutdown: CancellationToken) {
        let handshake = handshake::client_builder()
            .handshake::<_, RequestBody>(upgraded)
            .await;
        let (sender, conn) = match handshake {
            Ok(pair) => pair,
            Err(e) => {
                tracing::info!(%node, error = %e, "tunnel HTTP/2 handshake failed");
                return;
            }
        };
        let registration = self.insert(&node, sender);
        tracing::info!(%node, "node tunnel open");
        tokio::pin!(conn);
        let why = tokio::select! {
            r = conn.as_mut() => match r {
                Ok(()) => "closed by the agent".to_string(),
                Err(e) => e.to_string(),
            },
            _ = registration.replaced.cancelled() => "replaced by a newer tunnel".to_string(),
            _ = shutdown.cancelled() => "server shutting down".to_string(),
        };
        self.remove(&node, registration.id);
        tracing::info!(%node, why, "node tunnel closed");
    }

    /// `node`'s tunnel if it has one whose connection is still open.
    pub fn sender(&self, node: &str) -> Option<SendRequest<RequestBody>> {
        self.get(node).filter(|s| !s.is_closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_tunnel_replaces_the_older_one() {
        let table = TunnelTable::<&str>::default();
        let first = table.insert("pi-2", "first");
        let second = table.insert("pi-2", "second");
        assert!(first.replaced.is_cancelled());
        assert!(!second.replaced.is_cancelled());
        assert_eq!(table.get("pi-2"), Some("second"));
        // the replaced tunnel closing does not take the newer one with it
        table.remove("pi-2", first.id);
        assert_eq!(table.get("pi-2"), Some("second"));
        table.remove("pi-2", second.id);
        assert_eq!(table.get("pi-2"), None);
    }

    #[test]
    fn tunnels_of_different_nodes_are_kept_apart() {
        let table = TunnelTable::<u32>::default();
        let a = table.insert("pi-2", 2);
        table.insert("pi-3", 3);
        assert_eq!(table.nodes(), ["pi-2", "pi-3"]);
        table.remove("pi-2", a.id);
        assert_eq!((table.get("pi-2"), table.get("pi-3")), (None, Some(3)));
    }
}
