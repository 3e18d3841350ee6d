//! The checkpoint as the kubelet keeps it in memory, and the task that writes it. Changes
//! are recorded at once; a change of what the file would hold wakes the writer, which
//! writes at most once per [`MIN_INTERVAL`] and only when the pruned content differs from
//! what it wrote last. Shutdown writes what is pending.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::content::{self, Content, SavedToken};
use super::file;
use crate::kubelet::volume::TokenRequestKey;

/// The shortest time between two writes of the file.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

struct State {
    /// What the kubelet holds now.
    current: Content,
    /// What the file holds (pruned), as last written or read.
    written: Content,
}

/// The node's checkpoint: an in-memory copy and the file it is written to.
pub struct Checkpoint {
    path: PathBuf,
    state: Mutex<State>,
    dirty: Notify,
    writes: AtomicU64,
    min_interval: Duration,
}

impl Checkpoint {
    /// Reads the checkpoint under `data_dir` (an unreadable one is logged and left empty).
    pub fn open(data_dir: &Path) -> Arc<Checkpoint> {
        let path = file::path_in(data_dir);
        let mut loaded = file::load(&path);
        loaded.version = content::VERSION; // an absent file holds nothing, as an empty one

        Arc::new(Checkpoint {
            path,
            state: Mutex::new(State {
                current: loaded.clone(),
                written: loaded,
            }),
            dirty: Notify::new(),
            writes: AtomicU64::new(0),
            min_interval: MIN_INTERVAL,
        })
    }

    /// The same checkpoint with another interval between writes (tests).
    #[cfg(test)]
    pub(super) fn open_with_interval(data_dir: &Path, min_interval: Duration) -> Arc<Checkpoint> {
        let cp = Self::open(data_dir);
        let mut cp = Arc::try_unwrap(cp).unwrap_or_else(|_| unreachable!("just made"));
        cp.min_interval = min_interval;
        Arc::new(cp)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // a panic while holding the lock aborts the process (panic = "abort"): never poisoned
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `change` to the held content and wakes the writer when it changed anything.
    fn update(&self, change: impl FnOnce(&mut Content)) {
        let mut st = self.state();
        let before = st.current.clone();
        change(&mut st.current);
        if st.current != before {
            drop(st);
            self.dirty.notify_one();
        }
    }

    /// How many times the file was written since [`open`](Self::open).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The pods held, as checkpointed (no status).
    pub fn pods(&self) -> Vec<Value> {
        self.state().current.pods.values().cloned().collect()
    }

    /// The cluster network and the node's pod range, as last learnt.
    pub fn network(&self) -> (Option<String>, Option<String>) {
        let st = self.state();
        (st.current.cluster_cidr.clone(), st.current.pod_cidr.clone())
    }

    /// Records the cluster network and the node's pod range.
    pub fn set_network(&self, cluster_cidr: String, pod_cidr: String) {
        self.update(|c| {
            c.cluster_cidr = Some(cluster_cidr);
            c.pod_cidr = Some(pod_cidr);
        });
    }

    /// Records a pod bound to this node (as the API shows it).
    pub fn put_pod(&self, pod: &Value) {
        let Some(uid) = pod.pointer("/metadata/uid").and_then(Value::as_str) else {
            return;
        };
        let cut = content::pod(pod);
        self.update(|c| {
            if c.pods.get(uid) != Some(&cut) {
                c.pods.insert(uid.to_string(), cut);
            }
        });
    }

    /// Forgets the pod `uid`.
    pub fn remove_pod(&self, uid: &str) {
        self.update(|c| {
            c.pods.remove(uid);
        });
    }

    /// Keeps only the pods whose uid `keep` accepts.
    pub fn retain_pods(&self, keep: impl Fn(&str) -> bool) {
        self.update(|c| c.pods.retain(|uid, _| keep(uid)));
    }

    /// Records a ConfigMap a pod uses.
    pub fn put_config_map(&self, ns: &str, name: &str, cm: &Value) {
        let cut = content::config_map(cm);
        self.update(|c| {
            c.config_maps.insert(content::key(ns, name), cut);
        });
    }

    /// Records a Secret a pod uses.
    pub fn put_secret(&self, ns: &str, name: &str, s: &Value) {
        let cut = content::secret(s);
        self.update(|c| {
            c.secrets.insert(content::key(ns, name), cut);
        });
    }

    /// Records the token a pod's projected volume holds.
    pub fn put_token(&self, key: &TokenRequestKey, token: &str) {
        let saved = SavedToken::new(key, token);
        self.update(|c| {
            c.tokens.retain(|t| t.key() != *key);
            c.tokens.push(saved);
            c.tokens.sort();
        });
    }

    /// The ConfigMap `ns/name`, as checkpointed.
    pub fn config_map(&self, ns: &str, name: &str) -> Option<Value> {
        self.state()
            .current
            .config_maps
            .get(&content::key(ns, name))
            .cloned()
    }

    /// The Secret `ns/name`, as checkpointed.
    pub fn secret(&self, ns: &str, name: &str) -> Option<Value> {
        self.state()
            .current
            .secrets
            .get(&content::key(ns, name))
            .cloned()
    }

    /// The token checkpointed for `key`.
    pub fn token(&self, key: &TokenRequestKey) -> Option<String> {
        self.state()
            .current
            .tokens
            .iter()
            .find(|t| t.key() == *key)
            .map(|t| t.token.clone())
    }

    /// Writes the file if what it would hold differs from what it holds; whether it wrote.
    pub fn flush(&self) -> std::io::Result<bool> {
        let pruned = self.state().current.pruned();
        if self.state().written == pruned {
            return Ok(false);
        }
        let bytes = file::encode(&pruned);
        file::write_atomic(&self.path, &bytes)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            bytes = bytes.len(),
            pods = pruned.pods.len(),
            "kubelet checkpoint written"
        );
        self.state().written = pruned;
        Ok(true)
    }

    /// Writes changes until `shutdown`, at most once per [`MIN_INTERVAL`]; then writes what
    /// is pending.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.dirty.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            self.flush_logged().await;
            tokio::select! {
                _ = tokio::time::sleep(self.min_interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.flush_logged().await;
    }

    async fn flush_logged(self: &Arc<Self>) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot write the kubelet checkpoint");
                self.dirty.notify_one(); // tried again after the interval
            }
            Err(e) => tracing::warn!(error = %e, "writing the kubelet checkpoint failed"),
        }
    }
}
