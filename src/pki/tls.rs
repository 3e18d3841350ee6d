//! rustls configurations for the API server and for Bramble's own clients.
//!
//! The server asks for a client certificate but does not require one, like kube-apiserver
//! with `--client-ca-file`: a certificate signed by the cluster CA authenticates by itself,
//! and a client without one may still present a bearer token (or be anonymous). Both sides
//! offer ALPN `h2` then `http/1.1`, because kubectl prefers HTTP/2 but falls back.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::cert_slot::CertSlot;
use super::certs::all_certificates;
use super::server_cert_reload::ServerCertReload;
use super::{Pki, PkiError};

/// ALPN protocols offered, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

pub(super) fn alpn() -> Vec<Vec<u8>> {
    ALPN.iter().map(|p| p.to_vec()).collect()
}

fn roots(ca_pem: &str) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    for cert in all_certificates(ca_pem)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

fn private_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PkiError::InvalidCertificate(format!("private key: {e}")))
}

impl Pki {
    /// TLS configuration for the API server: serves `server.crt` followed by the CA (so a
    /// joining board can check the CA against its token's pin), verifies optional client
    /// certificates against the cluster CA, offers ALPN `h2` and `http/1.1`.
    pub fn server_tls_config(&self) -> Result<Arc<ServerConfig>, PkiError> {
        let provider = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(self.ca_pem())?),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let chain = format!("{}\n{}", self.server_cert_pem.trim_end(), self.ca_pem());
        let slot = CertSlot::new(&chain, &self.server_key_pem)?;
        let resolver = ServerCertReload::new(
            slot,
            self.dir.join(super::SERVER_CERT_FILE),
            self.dir.join(super::SERVER_KEY_FILE),
            self.ca_pem().to_string(),
        );
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = alpn();
        Ok(Arc::new(config))
    }

    /// TLS configuration for a client of this cluster presenting the given certificate.
    pub fn client_tls_config(
        &self,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Arc<ClientConfig>, PkiError> {
        client_tls_config(self.ca_pem(), Some((cert_pem, key_pem)))
    }
}

/// TLS configuration for a client trusting only `ca_pem`, presenting `client_cert`
/// (certificate PEM, key PEM) when given; without one the client relies on a bearer token.
pub fn client_tls_config(
    ca_pem: &str,
    client_cert: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?);
    let mut config = match client_cert {
        Some((cert_pem, key_pem)) => {
            builder.with_client_auth_cert(all_certificates(cert_pem)?, private_key(key_pem)?)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// TLS configuration for a client trusting only `ca_pem` that presents whatever
/// certificate `slot` holds at each handshake (the kubelet's rotating client certificate).
pub fn client_tls_config_rotating(
    ca_pem: &str,
    slot: Arc<CertSlot>,
) -> Result<Arc<ClientConfig>, PkiError> {
    client_config_with_resolver(ca_pem, slot)
}

/// TLS configuration for a client trusting only `ca_pem` whose certificate `resolver`
/// chooses at each handshake.
pub(super) fn client_config_with_resolver(
    ca_pem: &str,
    resolver: Arc<dyn rustls::client::ResolvesClientCert>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_cert_resolver(resolver);
    config.alpn_protocols = alpn();
    // A resumed session carries the certificate of the handshake it resumes: after a
    // rotation every connection must present the new one.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// [`kubelet_server_tls_config`] serving whatever certificate `slot` holds at each
/// handshake (the kubelet's rotating serving certificate).
pub fn kubelet_server_tls_config_rotating(
    ca_pem: &str,
    slot: Arc<CertSlot>,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
            .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"h2".to_vec()];
    // No resumption: a resumed session would stand for the certificate before a rotation.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// TLS configuration for a kubelet's HTTPS port: serves `cert_pem`, requires a client
/// certificate from the cluster CA `ca_pem` (the API server's), and speaks HTTP/2 only, since
/// exec sessions stream both ways on one request.
pub fn kubelet_server_tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
            .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(all_certificates(cert_pem)?, private_key(key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
