//! The API server's own certificates as read from their files at handshake time — its
//! serving certificate (`server.crt`/`server.key`) and its client certificate towards
//! kubelets (`apiserver-kubelet-client.crt`/`.key`) — so `bramble ctl certs rotate` (or
//! another process re-issuing a pair) takes effect on the next connection without a
//! restart.
//!
//! At most once a second a handshake looks at the certificate file's modification time;
//! only when it changed are both files read again, and the new pair is used only when the
//! key matches the certificate (a rotation writes the key first, so a handshake between the
//! two writes keeps serving the old pair). Otherwise every handshake is served from memory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::cert_slot::CertSlot;

/// How often a handshake may look at the files.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Presents the certificate of a file pair (followed by the CA, for a server).
#[derive(Debug)]
pub struct ServerCertReload {
    slot: Arc<CertSlot>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// Appended to the certificate: the CA, which a serving chain carries.
    chain_tail: String,
    seen: Mutex<Seen>,
}

#[derive(Debug)]
struct Seen {
    checked: Option<Instant>,
    modified: Option<SystemTime>,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ServerCertReload {
    /// Presents what `slot` holds (as loaded from the files, followed by `chain_tail`)
    /// until the files change.
    pub fn new(
        slot: Arc<CertSlot>,
        cert_path: PathBuf,
        key_path: PathBuf,
        chain_tail: String,
    ) -> ServerCertReload {
        let modified = modified(&cert_path);
        ServerCertReload {
            slot,
            cert_path,
            key_path,
            chain_tail,
            seen: Mutex::new(Seen {
                checked: Some(Instant::now()),
                modified,
            }),
        }
    }

    /// Reads the pair again if the certificate file changed since it was last read.
    pub fn refresh(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.checked.is_some_and(|t| t.elapsed() < CHECK_EVERY) {
            return;
        }
        seen.checked = Some(Instant::now());
        let now = modified(&self.cert_path);
        if now == seen.modified {
            return;
        }
        let (Ok(cert), Ok(key)) = (
            std::fs::read_to_string(&self.cert_path),
            std::fs::read_to_string(&self.key_path),
        ) else {
            return;
        };
        if !super::key_matches(&cert, &key) {
            return;
        }
        let chain = format!("{}\n{}", cert.trim_end(), self.chain_tail);
        match self.slot.set(&chain, &key) {
            Ok(()) => {
                seen.modified = now;
                tracing::info!(path = %self.cert_path.display(), "using the rotated certificate");
            }
            Err(e) => tracing::warn!(error = %e, "the rotated certificate is unusable"),
        }
    }
}

impl rustls::client::ResolvesClientCert for ServerCertReload {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        rustls::client::ResolvesClientCert::resolve(&*self.slot, root_hint_subjects, sigschemes)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for ServerCertReload {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        ResolvesServerCert::resolve(&*self.slot, hello)
    }
}
