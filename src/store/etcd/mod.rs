//! The etcd v3 backend: several servers on one etcd cluster serve one Kubernetes cluster.
//! Objects live under a key prefix as JSON; an object's revision is the `mod_revision` etcd
//! gave its last write. Each server loads everything under the prefix, then follows etcd's
//! watch into its hub ([`follow`]), so reads and watches are served from memory as with sled.
//! Writes are compare-and-swap transactions on the key's revision ([`txn`]), acknowledged
//! once this server's hub has them. Events carry an etcd lease so etcd expires them
//! ([`lease`]); old revisions are compacted as kube-apiserver does ([`compact`]).
//!
//! etcd is spoken to through its JSON gateway over HTTP/1.1 ([`gateway`]), with the
//! project's own hyper and rustls, rather than gRPC.

mod compact;
mod follow;
mod gateway;
mod lease;
mod load;
mod txn;
mod wire;

#[cfg(test)]
mod lost_answer_tests;
#[cfg(test)]
mod test_etcd;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::hub::{HistoryLimits, Hub};
use super::StoreError;
use gateway::Gateway;

/// The key prefix used when none is given (k3s' kine uses `/registry/`; this keeps Bramble's
/// objects apart from a Kubernetes sharing the etcd).
pub const DEFAULT_PREFIX: &str = "/bramble/";

/// Where the etcd cluster is and how to reach it.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Client URLs (`http://host:port` or `https://host:port`); requests go to the next one
    /// when one cannot be reached.
    pub endpoints: Vec<String>,
    /// TLS settings for `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// Every key the store writes starts with this.
    pub prefix: String,
    /// How long an Event lives in etcd before its lease expires it (kube-apiserver's
    /// `--event-ttl`).
    pub event_ttl: Duration,
    /// How often old revisions are compacted (kube-apiserver's
    /// `--etcd-compaction-interval`); zero never compacts.
    pub compaction_interval: Duration,
}

impl EtcdConfig {
    /// Settings for `endpoints` with the default prefix, event TTL (1 hour) and compaction
    /// interval (5 minutes), and no TLS.
    pub fn new(endpoints: Vec<String>) -> EtcdConfig {
        EtcdConfig {
            endpoints,
            tls: None,
            prefix: DEFAULT_PREFIX.into(),
            event_ttl: Duration::from_secs(3600),
            compaction_interval: Duration::from_secs(300),
        }
    }
}

/// TLS files for etcd, all PEM.
#[derive(Debug, Clone)]
pub struct EtcdTls {
    /// The CA that signed the members' serving certificates.
    pub ca_file: PathBuf,
    /// The client certificate and its key, when the members require one.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl EtcdTls {
    /// The rustls settings: trust the CA, present the client certificate, speak HTTP/1.1.
    fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, StoreError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map_err(|e| StoreError::EtcdConfig(format!("{}: {e}", path.display())))
        };
        let ca = read(&self.ca_file)?;
        let client = match &self.client {
            Some((cert, key)) => Some((read(cert)?, read(key)?)),
            None => None,
        };
        let config = crate::pki::client_tls_config(
            &ca,
            client.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
        )
        .map_err(|e| StoreError::EtcdConfig(format!("TLS files: {e}")))?;
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The backend's state: what writers need, and the tasks that keep the hub current.
pub(super) struct Backend {
    gateway: Arc<Gateway>,
    hub: Arc<Mutex<Hub>>,
    prefix: Arc<str>,
    quota: usize,
    events: lease::EventLeases,
    follower: Mutex<Option<JoinHandle<()>>>,
    compactor: JoinHandle<()>,
}

impl Backend {
    /// Connects, loads every object under the prefix and starts following the watch.
    pub(super) async fn open(
        config: EtcdConfig,
        history: HistoryLimits,
        quota: usize,
    ) -> Result<(Arc<Backend>, Arc<Mutex<Hub>>), StoreError> {
        if config.prefix.is_empty() {
            return Err(StoreError::EtcdConfig("the key prefix is empty".into()));
        }
        let gateway = Arc::new(Gateway::new(&config)?);
        let prefix: Arc<str> = config.prefix.as_str().into();
        let loaded = load::list(&gateway, &prefix).await?;
        tracing::info!(
            objects = loaded.objects.len(),
            revision = loaded.revision,
            endpoint = gateway.url(gateway.current()),
            prefix = %prefix,
            "store opened on etcd"
        );
        let hub = Arc::new(Mutex::new(Hub::new(
            loaded.objects,
            loaded.revision,
            history,
        )));
        let follower = follow::start(gateway.clone(), hub.clone(), prefix.clone());
        let compactor = compact::start(gateway.clone(), hub.clone(), config.compaction_interval);
        let backend = Backend {
            events: lease::EventLeases::new(config.event_ttl),
            gateway,
            hub: hub.clone(),
            prefix,
            quota,
            follower: Mutex::new(Some(follower)),
            compactor,
        };
        Ok((Arc::new(backend), hub))
    }

    /// Stops following the watch, as a broken stream would (tests of the catch-up).
    #[cfg(test)]
    pub(super) fn stop_following(&self) {
        if let Some(f) = self.follower.lock().unwrap().take() {
            f.abort();
        }
    }

    /// Follows the watch again from the hub's revision.
    #[cfg(test)]
    pub(super) fn start_following(&self) {
        let f = follow::start(self.gateway.clone(), self.hub.clone(), self.prefix.clone());
        *self.follower.lock().unwrap() = Some(f);
    }

    /// The etcd key of `key`.
    fn etcd_key(&self, key: &super::ObjectKey) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.as_str().len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(key.as_str().as_bytes());
        k
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(f) = self
            .follower
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            f.abort();
        }
        self.compactor.abort();
    }
}
