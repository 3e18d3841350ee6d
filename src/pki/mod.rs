//! Cluster PKI: CA, certificates, join tokens, kubeconfig files.
//!
//! `bramble server` keeps its PKI in one directory (`ca.crt`, `ca.key`, `server.crt`,
//! `server.key`, all PEM, keys mode 0600). [`Pki::load_or_create`] creates the CA on first
//! start and reuses it afterwards; the server certificate is re-issued whenever it stops
//! covering the host's names. Client certificates carry identity the way Kubernetes reads it
//! (CN = user, O = groups), so stock kubectl works with the kubeconfigs written here.

mod atomic_file;
mod ca;
pub mod cert_slot;
mod certs;
pub mod csr;
pub mod identity;
pub mod join_token;
pub mod kubeconfig;
mod names;
mod pinned;
pub mod rotate;
mod server_cert_reload;
mod signing_key;
mod subject;
mod tls;
pub mod tokens;

use std::collections::BTreeSet;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub use atomic_file::{write_atomic, PRIVATE_MODE, PUBLIC_MODE};
pub use ca::{CA_COMMON_NAME, CA_VALIDITY_DAYS};
pub use certs::{SERVER_COMMON_NAME, SERVER_RENEW_BEFORE, SERVER_VALIDITY_DAYS};
pub use names::{
    global_ipv6_from_if_inet6, local_ipv4_from_fib_trie, ServerNames, IN_CLUSTER_DNS_NAMES,
};
pub use pinned::pinned_ca_tls_config;
pub use signing_key::{SigningKey, SIGNING_KEY_FILE};
pub use tls::{
    client_tls_config, client_tls_config_rotating, kubelet_server_tls_config,
    kubelet_server_tls_config_rotating,
};

use ca::CertificateAuthority;

/// File name of the CA certificate inside the PKI directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the PKI directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the API server certificate inside the PKI directory.
pub const SERVER_CERT_FILE: &str = "server.crt";
/// File name of the API server private key inside the PKI directory.
pub const SERVER_KEY_FILE: &str = "server.key";

/// Errors from creating, loading or using the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Only one of a certificate/key pair exists, so the pair cannot be trusted or replaced.
    #[error("{present} exists but {missing} does not; restore it or remove both")]
    IncompletePair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate or key could not be parsed or does not fit.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A name cannot be put in a certificate.
    #[error("invalid certificate name {0:?}")]
    InvalidName(String),
    /// rustls rejected the TLS material.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The stored join token is damaged.
    #[error("{path}: {source}")]
    JoinToken {
        /// The token file.
        path: PathBuf,
        /// What is wrong with it.
        source: join_token::JoinTokenError,
    },
}

/// The loaded cluster PKI: CA plus the API server's serving certificate.
pub struct Pki {
    dir: PathBuf,
    ca: ClusterCa,
    server_cert_pem: String,
    server_key_pem: String,
}

impl Pki {
    /// Loads the PKI from `dir`, creating the CA and server certificate on first start and
    /// re-issuing the server certificate when it no longer covers `names`.
    pub fn load_or_create(dir: &Path, names: &ServerNames) -> Result<Pki, PkiError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| PkiError::Io {
                path: dir.to_path_buf(),
                source,
            })?;

        let ca_cert_path = dir.join(CA_CERT_FILE);
        let ca_key_path = dir.join(CA_KEY_FILE);
        let ca = match read_pair(&ca_cert_path, &ca_key_path)? {
            Some((cert, key)) => CertificateAuthority::from_pem(&cert, &key)?,
            None => {
                let ca = CertificateAuthority::create()?;
                // Key first: a crash between the two writes leaves a key without a
                // certificate, which is reported rather than silently replaced.
                write(&ca_key_path, ca.key_pem().as_bytes(), PRIVATE_MODE)?;
                write(&ca_cert_path, ca.cert_pem().as_bytes(), PUBLIC_MODE)?;
                tracing::info!(dir = %dir.display(), "created cluster CA");
                ca
            }
        };

        let server_cert_path = dir.join(SERVER_CERT_FILE);
        let server_key_path = dir.join(SERVER_KEY_FILE);
        let existing = read_pair(&server_cert_path, &server_key_path).or_else(|e| match e {
            // The server pair is derived material: a half pair is simply re-issued.
            PkiError::IncompletePair { .. } => Ok(None),
            other => Err(other),
        })?;
        let reusable = existing.filter(|(cert, key)| {
            match certs::server_cert_problem(&ca, cert, key, names) {
                None => true,
                Some(problem) => {
                    tracing::info!(%problem, "re-issuing API server certificate");
                    false
                }
            }
        });
        let (server_cert_pem, server_key_pem) = match reusable {
            Some(pair) => pair,
            None => {
                let (cert, key) = certs::issue_server(&ca, names, SERVER_VALIDITY_DAYS)?;
                write(&server_key_path, key.as_bytes(), PRIVATE_MODE)?;
                write(&server_cert_path, cert.as_bytes(), PUBLIC_MODE)?;
                (cert, key)
            }
        };
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca: ClusterCa(ca),
            server_cert_pem,
            server_key_pem,
        })
    }

    /// The CA certificate in PEM, for kubeconfigs and joining boards.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem()
    }

    /// The API server certificate in PEM.
    pub fn server_cert_pem(&self) -> &str {
        &self.server_cert_pem
    }

    /// The cluster CA, which issues client certificates.
    pub fn ca(&self) -> &ClusterCa {
        &self.ca
    }

    /// The DNS names and addresses the API server certificate answers to.
    pub fn server_names(&self) -> (BTreeSet<String>, BTreeSet<IpAddr>) {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let Ok(der) = CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()) else {
            return Default::default();
        };
        match x509_parser::parse_x509_certificate(&der) {
            Ok((_, cert)) => certs::subject_alt_names(&cert),
            Err(_) => Default::default(),
        }
    }

    /// Issues the serving certificate of node `node`'s kubelet, valid for `days`, naming
    /// the node and `addresses` (the caller has checked both belong to the node). Returns
    /// (certificate PEM, private key PEM).
    pub fn issue_kubelet_serving(
        &self,
        node: &str,
        addresses: &[IpAddr],
        days: u64,
    ) -> Result<(String, String), PkiError> {
        let mut ips = Vec::new();
        for a in addresses {
            if !ips.contains(a) {
                ips.push(*a);
            }
        }
        let cn = format!("system:node:{node}");
        certs::issue_serving(&self.ca.0, &cn, &[node.to_string()], &ips, days)
    }
}

/// The cluster CA alone, for issuing client certificates from a command other than the
/// server (`bramble kubeconfig`). Loading it never touches `server.crt`: that certificate
/// names the server's addresses, and a command run on another host (or with other
/// interfaces up) must not re-issue it with its own.
pub struct ClusterCa(CertificateAuthority);

impl ClusterCa {
    /// Loads `ca.crt` and `ca.key` from the PKI directory `dir`.
    pub fn load(dir: &Path) -> Result<ClusterCa, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match read_pair(&cert_path, &key_path)? {
            Some((cert, key)) => Ok(ClusterCa(CertificateAuthority::from_pem(&cert, &key)?)),
            None => Err(PkiError::Io {
                path: cert_path,
                source: std::io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// The CA certificate in PEM.
    pub fn ca_pem(&self) -> &str {
        self.0.cert_pem()
    }

    /// Issues a client certificate valid for `days`: CN = `user`, one O per group.
    /// Returns (certificate PEM, private key PEM).
    pub fn issue_client(
        &self,
        user: &str,
        groups: &[&str],
        days: u64,
    ) -> Result<(String, String), PkiError> {
        certs::issue_client(&self.0, user, groups, days)
    }

    /// [`ClusterCa::issue_client`] for a lifetime given exactly (node certificates, whose
    /// lifetime `--node-cert-lifetime` caps).
    pub fn issue_client_for(
        &self,
        user: &str,
        groups: &[&str],
        lifetime: std::time::Duration,
    ) -> Result<(String, String), PkiError> {
        certs::issue_client_for(&self.0, user, groups, lifetime)
    }
}

/// The DNS names and addresses of the first certificate in `cert_pem`.
pub fn certificate_names(cert_pem: &str) -> Option<(BTreeSet<String>, BTreeSet<IpAddr>)> {
    let der = ca::first_certificate(cert_pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(certs::subject_alt_names(&cert))
}

/// Whether the private key `key_pem` belongs to the first certificate of `cert_pem`.
pub fn key_matches(cert_pem: &str, key_pem: &str) -> bool {
    let (Ok(der), Ok(key)) = (
        ca::first_certificate(cert_pem),
        rcgen::KeyPair::from_pem(key_pem),
    ) else {
        return false;
    };
    x509_parser::parse_x509_certificate(&der)
        .is_ok_and(|(_, cert)| cert.public_key().raw == key.public_key_der().as_slice())
}

/// Reads a cert/key pair; `None` when neither exists.
fn read_pair(cert: &Path, key: &Path) -> Result<Option<(String, String)>, PkiError> {
    match (read_optional(cert)?, read_optional(key)?) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(PkiError::IncompletePair {
            present: cert.to_path_buf(),
            missing: key.to_path_buf(),
        }),
        (None, Some(_)) => Err(PkiError::IncompletePair {
            present: key.to_path_buf(),
            missing: cert.to_path_buf(),
        }),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    write_atomic(path, contents, mode).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
