//! The API server's serving certificate as read from `server.crt`/`server.key` at
//! handshake time, so `bramble ctl certs rotate` (or another process re-issuing the pair)
//! takes effect on the next connection without a restart.
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

/// Serves the certificate in `server.crt`, followed by the CA.
#[derive(Debug)]
pub struct ServerCertReload {
    slot: Arc<CertSlot>,
    cert_path: PathBuf,
    key_path: PathBuf,
    ca_pem: String,
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
    /// Serves `cert_pem`/`key_pem` (as loaded from the files) until the files change.
    pub fn new(
        slot: Arc<CertSlot>,
        cert_path: PathBuf,
        key_path: PathBuf,
        ca_pem: String,
    ) -> ServerCertReload {
        let modified = modified(&cert_path);
        ServerCertReload {
            slot,
            cert_path,
            key_path,
            ca_pem,
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
        let chain = format!("{}\n{}", cert.trim_end(), self.ca_pem);
        match self.slot.set(&chain, &key) {
            Ok(()) => {
                seen.modified = now;
                tracing::info!(path = %self.cert_path.display(), "serving the new API server certificate");
            }
            Err(e) => tracing::warn!(error = %e, "the new API server certificate is unusable"),
        }
    }
}

impl ResolvesServerCert for ServerCertReload {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        ResolvesServerCert::resolve(&*self.slot, hello)
    }
}
