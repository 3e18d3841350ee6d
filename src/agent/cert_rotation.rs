//! The kubelet's certificate manager: keeps the node's client certificate and its kubelet
//! serving certificate renewed, as upstream's `k8s.io/client-go/util/certificate` manager.
//!
//! Each certificate is renewed at a jittered deadline between 70 % and 90 % of its life
//! (`nextRotationDeadline`), so a cluster's nodes do not all renew at once: a new ECDSA key,
//! a CertificateSigningRequest to `kubernetes.io/kube-apiserver-client-kubelet` or
//! `kubernetes.io/kubelet-serving` (the controllers approve and sign it), then the issued
//! certificate is written atomically (`agent/kubelet.kubeconfig`,
//! `agent/kubelet-server-current.pem`) and put in its [`CertSlot`], which new connections
//! read at their handshake: nothing restarts. A failed renewal is tried again with a
//! growing pause; a certificate that expires meanwhile stops working, and the next start
//! then needs the join token again.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::client::http::HttpClient;
use crate::client::status::ApiError;
use crate::client::{Client, RemoteClient};
use crate::pki::cert_slot::CertSlot;
use crate::pki::csr::generate_request;
use crate::pki::identity::{NODES_GROUP, NODE_USER_PREFIX};
use crate::pki::kubeconfig::{Credentials, Kubeconfig};
use crate::resources::certificatesigningrequest::{
    self as csr_kind, KUBELET_SERVING_SIGNER, KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
};

/// Where the serving certificate and its key are kept, under the data directory (the
/// name upstream's kubelet gives it under `/var/lib/kubelet/pki`).
pub const SERVING_PATH: &str = "agent/kubelet-server-current.pem";
/// How often a pending request is read while waiting for its certificate.
const POLL: Duration = Duration::from_secs(1);
/// How long a request may wait for its certificate before a new one is made.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The first pause after a failed renewal, doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Why a certificate could not be renewed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The API refused or failed a call.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The request was denied or its signer failed it.
    #[error("the certificate signing request {name} was {verdict}: {message}")]
    Refused {
        /// The request's name.
        name: String,
        /// `Denied` or `Failed`.
        verdict: String,
        /// The condition's message.
        message: String,
    },
    /// No certificate came within [`ISSUE_TIMEOUT`].
    #[error("the certificate signing request {0} was not issued in time")]
    Timeout(String),
    /// Making the key, the request or the files failed.
    #[error("{0}")]
    Local(String),
    /// The agent is shutting down.
    #[error("shutting down")]
    Shutdown,
}

/// Which of the kubelet's certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The client certificate for `system:node:<name>`.
    Client,
    /// The serving certificate for the node's name and these addresses.
    Serving(Vec<IpAddr>),
}

/// Upstream's `nextRotationDeadline`: `notBefore` plus 70-90 % of the life, `jitter` in
/// `[0, 1)` choosing where. Times are seconds since the epoch.
pub fn rotation_deadline(not_before: i64, not_after: i64, jitter: f64) -> i64 {
    let total = i128::from(not_after.saturating_sub(not_before).max(0));
    // parts per million, in integers so 80 % of 1000 s is 800 s exactly
    let share = 700_000 + (200_000.0 * jitter.clamp(0.0, 1.0)) as i128;
    let offset = i64::try_from(total * share / 1_000_000).unwrap_or(i64::MAX);
    not_before.saturating_add(offset)
}

/// The validity of the first certificate in `pem`: (notBefore, notAfter), seconds since
/// the epoch.
pub fn validity(pem: &str) -> Option<(i64, i64)> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Asks the cluster for a certificate: a new key, a request, and the wait for its
/// certificate. Returns (certificate PEM, key PEM).
pub async fn request_certificate(
    client: &RemoteClient,
    node: &str,
    wanted: &Wanted,
    shutdown: &CancellationToken,
) -> Result<(String, String), RotationError> {
    let cn = format!("{NODE_USER_PREFIX}{node}");
    let (dns, ips, signer, usages): (Vec<String>, Vec<IpAddr>, &str, &[&str]) = match wanted {
        Wanted::Client => (
            Vec::new(),
            Vec::new(),
            KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
            &["digital signature", "client auth"],
        ),
        Wanted::Serving(addresses) => (
            vec![node.to_string()],
            addresses.clone(),
            KUBELET_SERVING_SIGNER,
            &["digital signature", "key encipherment", "server auth"],
        ),
    };
    let (request_pem, key_pem) = generate_request(&cn, Some(NODES_GROUP), &dns, &ips)
        .map_err(|e| RotationError::Local(e.to_string()))?;
    let body = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "csr-"},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(&request_pem),
            "signerName": signer,
            "usages": usages,
        },
    });
    let name = client.create_named(&csr_kind::RESOURCE, "", body).await?;
    tracing::info!(csr = %name, %signer, "asked for a new certificate");
    let deadline = tokio::time::Instant::now() + ISSUE_TIMEOUT;
    loop {
        let obj = client.get(&csr_kind::RESOURCE, "", &name).await?;
        if let Some(refusal) = refusal(&obj) {
            return Err(RotationError::Refused {
                name,
                verdict: refusal.0,
                message: refusal.1,
            });
        }
        if let Some(cert) = issued(&obj) {
            if !crate::pki::key_matches(&cert, &key_pem) {
                return Err(RotationError::Local(format!(
                    "the certificate issued for {name} is not for the key that asked"
                )));
            }
            return Ok((cert, key_pem));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RotationError::Timeout(name));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.cancelled() => return Err(RotationError::Shutdown),
        }
    }
}

fn refusal(obj: &Value) -> Option<(String, String)> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "Denied" || c["type"] == "Failed")
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

fn issued(obj: &Value) -> Option<String> {
    let bytes = csr_kind::bytes_at(obj, "/status/certificate").filter(|b| !b.is_empty())?;
    String::from_utf8(bytes).ok()
}

/// Where a renewed certificate goes besides its slot.
pub enum Store {
    /// The node's kubeconfig (client certificate embedded), rewritten whole.
    Kubeconfig {
        /// The kubeconfig as loaded.
        kubeconfig: Box<Kubeconfig>,
        /// Its file.
        path: PathBuf,
        /// The connection to reopen with the new certificate.
        http: Arc<HttpClient>,
    },
    /// One PEM file holding the certificate then the key.
    Pem(PathBuf),
}

impl Store {
    async fn save(&mut self, cert_pem: &str, key_pem: &str) -> Result<(), RotationError> {
        match self {
            Store::Kubeconfig {
                kubeconfig,
                path,
                http,
            } => {
                kubeconfig.credentials = Credentials::ClientCertificate {
                    cert_pem: cert_pem.to_string(),
                    key_pem: key_pem.to_string(),
                };
                kubeconfig
                    .write(path)
                    .map_err(|e| RotationError::Local(e.to_string()))?;
                http.reconnect().await;
                Ok(())
            }
            Store::Pem(path) => write_pem_pair(path, cert_pem, key_pem),
        }
    }
}

/// Writes a certificate and its key into one file (mode 0600), atomically.
pub fn write_pem_pair(path: &Path, cert_pem: &str, key_pem: &str) -> Result<(), RotationError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RotationError::Local(e.to_string()))?;
    }
    let both = format!("{}\n{}", cert_pem.trim_end(), key_pem);
    crate::pki::write_atomic(path, both.as_bytes(), crate::pki::PRIVATE_MODE)
        .map_err(|e| RotationError::Local(format!("{}: {e}", path.display())))
}

/// Reads a file written by [`write_pem_pair`]: (certificate PEM, key PEM).
pub fn read_pem_pair(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let split = text.find("-----BEGIN PRIVATE KEY-----")?;
    let (cert, key) = text.split_at(split);
    crate::pki::key_matches(cert, key).then(|| (cert.to_string(), key.to_string()))
}

/// Renews the certificate in `slot` at each rotation deadline until `shutdown`.
pub async fn keep_renewed(
    client: RemoteClient,
    node: String,
    wanted: Wanted,
    slot: Arc<CertSlot>,
    mut store: Store,
    shutdown: CancellationToken,
) {
    let mut pause = FIRST_PAUSE;
    loop {
        let current = slot.cert_pem();
        let (not_before, not_after) = validity(&current).unwrap_or((0, 0));
        let deadline = rotation_deadline(not_before, not_after, rand::random::<f64>());
        let wait = Duration::from_secs(u64::try_from(deadline - now_unix()).unwrap_or(0));
        tracing::info!(
            ?wanted,
            wait_secs = wait.as_secs(),
            "next certificate rotation"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        loop {
            let result = match request_certificate(&client, &node, &wanted, &shutdown).await {
                Ok((cert, key)) => match store.save(&cert, &key).await {
                    Ok(()) => slot
                        .set(&cert, &key)
                        .map_err(|e| RotationError::Local(e.to_string())),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    tracing::info!(?wanted, "rotated the certificate");
                    pause = FIRST_PAUSE;
                    break;
                }
                Err(RotationError::Shutdown) => return,
                Err(e) => {
                    tracing::warn!(?wanted, error = %e, "certificate rotation failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_falls_between_70_and_90_percent_of_the_life() {
        let (nb, na) = (1_000, 2_000);
        assert_eq!(rotation_deadline(nb, na, 0.0), 1_700);
        assert_eq!(rotation_deadline(nb, na, 0.5), 1_800);
        assert_eq!(rotation_deadline(nb, na, 0.999_999), 1_899);
        // out-of-range jitter and reversed validity do not escape the window
        assert_eq!(rotation_deadline(nb, na, 7.0), 1_900);
        assert_eq!(rotation_deadline(na, nb, 0.5), na);
    }

    #[test]
    fn a_pem_pair_reads_back_only_when_the_key_fits() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(
            &dir.path().join("pki"),
            &crate::pki::ServerNames::default(),
        )
        .unwrap();
        let (cert, key) = pki.ca().issue_client("system:node:pi-2", &[], 1).unwrap();
        let path = dir.path().join("agent/kubelet-server-current.pem");
        write_pem_pair(&path, &cert, &key).unwrap();
        let (c, k) = read_pem_pair(&path).unwrap();
        assert!(crate::pki::key_matches(&c, &k));
        let (_, other_key) = pki.ca().issue_client("x", &[], 1).unwrap();
        write_pem_pair(&path, &cert, &other_key).unwrap();
        assert!(read_pem_pair(&path).is_none());
        let (nb, na) = validity(&cert).unwrap();
        assert!(na - nb >= 24 * 60 * 60);
    }
}
