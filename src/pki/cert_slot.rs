//! A certificate that can be replaced while connections use it: the kubelet's client
//! certificate (what new API connections present) and its serving certificate (what the
//! kubelet port serves), and the API server's serving certificate after
//! `bramble ctl certs rotate`.
//!
//! rustls asks a resolver for the certificate at every handshake, so a slot that is both a
//! client and a server resolver makes a renewal take effect on the next connection without
//! rebuilding any TLS configuration, as the kubelet's certificate manager hands
//! `tls.Config.GetClientCertificate` and `GetCertificate` its current certificate upstream.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use super::certs::all_certificates;
use super::PkiError;

/// The current certificate and key, replaceable at any time.
pub struct CertSlot {
    current: RwLock<Current>,
}

struct Current {
    key: Arc<CertifiedKey>,
    cert_pem: String,
    key_pem: String,
}

fn certified(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, PkiError> {
    use rustls::pki_types::pem::PemObject;
    let chain = all_certificates(cert_pem)?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PkiError::InvalidCertificate(format!("private key: {e}")))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

impl CertSlot {
    /// A slot holding `cert_pem` (a chain, leaf first) and its `key_pem`.
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Arc<CertSlot>, PkiError> {
        Ok(Arc::new(CertSlot {
            current: RwLock::new(Current {
                key: certified(cert_pem, key_pem)?,
                cert_pem: cert_pem.to_string(),
                key_pem: key_pem.to_string(),
            }),
        }))
    }

    /// Replaces the certificate; handshakes from now on use the new one.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), PkiError> {
        let key = certified(cert_pem, key_pem)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = Current {
            key,
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        };
        Ok(())
    }

    /// The current certificate PEM.
    pub fn cert_pem(&self) -> String {
        self.read().cert_pem.clone()
    }

    /// The current private key PEM.
    pub fn key_pem(&self) -> String {
        self.read().key_pem.clone()
    }

    fn key(&self) -> Arc<CertifiedKey> {
        self.read().key.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSlot").finish_non_exhaustive()
    }
}

impl ResolvesClientCert for CertSlot {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let key = self.key();
        key.key.choose_scheme(sigschemes).is_some().then_some(key)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }
}
