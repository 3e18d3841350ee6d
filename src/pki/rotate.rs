//! Re-issuing the server's own certificates from the cluster CA in `DATA_DIR/pki`, for
//! `bramble ctl certs rotate` (kubeadm's `certs renew`, k3s' `certificate rotate`): the
//! serving certificate (for the host's current names and addresses, plus every name the old
//! one had), the API server's client certificate towards kubelets, and the admin
//! kubeconfig's client certificate. Every file is replaced atomically, key before
//! certificate; a running server picks the new pairs up at its next handshake
//! (`server_cert_reload.rs`). The CA itself is never replaced: every board trusts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cert_slot::CertSlot;
use super::kubeconfig::{Credentials, Kubeconfig};
use super::server_cert_reload::ServerCertReload;
use super::{
    certs, read_pair, write, ClusterCa, Pki, PkiError, ServerNames, PRIVATE_MODE, PUBLIC_MODE,
    SERVER_CERT_FILE, SERVER_KEY_FILE, SERVER_RENEW_BEFORE, SERVER_VALIDITY_DAYS,
};

/// The API server's client certificate towards kubelets (kubeadm's
/// `apiserver-kubelet-client.crt`).
pub const KUBELET_CLIENT_CERT_FILE: &str = "apiserver-kubelet-client.crt";
/// Its key.
pub const KUBELET_CLIENT_KEY_FILE: &str = "apiserver-kubelet-client.key";
/// The user the API server is to kubelets.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// The admin client certificate's user.
pub const ADMIN_USER: &str = "admin";

/// Lifetime of the admin and kubelet-client certificates.
const CLIENT_DAYS: u64 = 365;

/// What a rotation wrote.
#[derive(Debug)]
pub struct Rotated {
    /// Every file replaced.
    pub files: Vec<PathBuf>,
}

fn issue_kubelet_client(ca: &ClusterCa, dir: &Path) -> Result<(String, String), PkiError> {
    let (cert, key) = ca.issue_client(KUBELET_CLIENT_USER, &["system:masters"], CLIENT_DAYS)?;
    write(
        &dir.join(KUBELET_CLIENT_KEY_FILE),
        key.as_bytes(),
        PRIVATE_MODE,
    )?;
    write(
        &dir.join(KUBELET_CLIENT_CERT_FILE),
        cert.as_bytes(),
        PUBLIC_MODE,
    )?;
    Ok((cert, key))
}

/// Whether a stored client pair can still be used: the key fits, it chains to the CA's
/// subject, and it lives longer than the server certificate's renewal margin.
fn client_pair_usable(cert: &str, key: &str) -> bool {
    let Some((_, not_after)) = certificate_validity(cert) else {
        return false;
    };
    let margin = i64::try_from(SERVER_RENEW_BEFORE.as_secs()).unwrap_or(i64::MAX);
    super::key_matches(cert, key) && not_after > chrono::Utc::now().timestamp() + margin
}

fn certificate_validity(pem: &str) -> Option<(i64, i64)> {
    let der = super::ca::first_certificate(pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

impl Pki {
    /// TLS settings of the API server towards kubelets: trusts the cluster CA and presents
    /// `apiserver-kubelet-client.crt` (in `system:masters`), issued when missing or close
    /// to expiry and read again whenever the file changes.
    pub fn kubelet_client_tls_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        let stored = read_pair(
            &self.dir.join(KUBELET_CLIENT_CERT_FILE),
            &self.dir.join(KUBELET_CLIENT_KEY_FILE),
        )
        .unwrap_or(None)
        .filter(|(c, k)| client_pair_usable(c, k));
        let (cert, key) = match stored {
            Some(pair) => pair,
            None => issue_kubelet_client(&self.ca, &self.dir)?,
        };
        let resolver = ServerCertReload::new(
            CertSlot::new(&cert, &key)?,
            self.dir.join(KUBELET_CLIENT_CERT_FILE),
            self.dir.join(KUBELET_CLIENT_KEY_FILE),
            String::new(),
        );
        super::tls::client_config_with_resolver(self.ca_pem(), Arc::new(resolver))
    }
}

/// Re-issues the server's certificates under `data_dir` (`pki/` and `admin.kubeconfig`)
/// for `names` and every name the current serving certificate has.
pub fn rotate(data_dir: &Path, names: &ServerNames) -> Result<Rotated, PkiError> {
    let dir = data_dir.join("pki");
    let ca = ClusterCa::load(&dir)?;
    let mut files = Vec::new();

    let mut all = names.clone();
    if let Some((cert, _)) =
        read_pair(&dir.join(SERVER_CERT_FILE), &dir.join(SERVER_KEY_FILE)).unwrap_or(None)
    {
        if let Some((dns, ips)) = super::certificate_names(&cert) {
            all.dns.extend(dns);
            all.ips.extend(ips);
        }
    }
    all.dns.sort();
    all.dns.dedup();
    all.ips.sort();
    all.ips.dedup();
    let (cert, key) = certs::issue_server(&ca.0, &all, SERVER_VALIDITY_DAYS)?;
    write(&dir.join(SERVER_KEY_FILE), key.as_bytes(), PRIVATE_MODE)?;
    write(&dir.join(SERVER_CERT_FILE), cert.as_bytes(), PUBLIC_MODE)?;
    files.push(dir.join(SERVER_CERT_FILE));

    issue_kubelet_client(&ca, &dir)?;
    files.push(dir.join(KUBELET_CLIENT_CERT_FILE));

    let admin = data_dir.join("admin.kubeconfig");
    if let Ok(mut kc) = Kubeconfig::load(&admin) {
        let (cert_pem, key_pem) = ca.issue_client(ADMIN_USER, &["system:masters"], CLIENT_DAYS)?;
        kc.credentials = Credentials::ClientCertificate { cert_pem, key_pem };
        kc.ca_pem = ca.ca_pem().to_string();
        kc.write(&admin)
            .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        files.push(admin);
    }
    Ok(Rotated { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_replaces_the_serving_certificate_and_keeps_its_names_and_ca() {
        let dir = tempfile::tempdir().unwrap();
        let names = ServerNames {
            dns: vec!["server-1".into()],
            ips: vec!["192.168.1.10".parse().unwrap()],
        };
        let pki = Pki::load_or_create(&dir.path().join("pki"), &names).unwrap();
        let before = pki.server_cert_pem().to_string();
        let more = ServerNames {
            dns: Vec::new(),
            ips: vec!["192.168.1.11".parse().unwrap()],
        };
        let rotated = rotate(dir.path(), &more).unwrap();
        assert_eq!(rotated.files.len(), 2, "no admin kubeconfig to rotate here");
        let after = std::fs::read_to_string(dir.path().join("pki").join(SERVER_CERT_FILE)).unwrap();
        assert_ne!(before, after);
        let (dns, ips) = super::super::certificate_names(&after).unwrap();
        assert!(dns.contains("server-1"));
        assert!(ips.contains(&"192.168.1.10".parse().unwrap()));
        assert!(ips.contains(&"192.168.1.11".parse().unwrap()));
        // the same CA still loads, and the reloaded pair is whole
        let again = Pki::load_or_create(&dir.path().join("pki"), &names).unwrap();
        assert_eq!(again.ca_pem(), pki.ca_pem());
        assert_eq!(again.server_cert_pem(), after);
    }

    #[test]
    fn a_copied_pki_issues_a_serving_certificate_for_its_own_addresses() {
        let first = tempfile::tempdir().unwrap();
        let a = ServerNames {
            dns: Vec::new(),
            ips: vec!["192.168.1.10".parse().unwrap()],
        };
        let pki_a = Pki::load_or_create(&first.path().join("pki"), &a).unwrap();
        let second = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(second.path().join("pki")).unwrap();
        for f in ["ca.crt", "ca.key", SERVER_CERT_FILE, SERVER_KEY_FILE] {
            std::fs::copy(
                first.path().join("pki").join(f),
                second.path().join("pki").join(f),
            )
            .unwrap();
        }
        let b = ServerNames {
            dns: Vec::new(),
            ips: vec!["192.168.1.11".parse().unwrap()],
        };
        let pki_b = Pki::load_or_create(&second.path().join("pki"), &b).unwrap();
        assert_eq!(pki_a.ca_pem(), pki_b.ca_pem());
        let (_, ips) = pki_b.server_names();
        assert!(ips.contains(&"192.168.1.11".parse().unwrap()), "{ips:?}");
    }

    #[test]
    fn the_kubelet_client_pair_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(&dir.path().join("pki"), &ServerNames::default()).unwrap();
        pki.kubelet_client_tls_config().unwrap();
        let first =
            std::fs::read_to_string(dir.path().join("pki").join(KUBELET_CLIENT_CERT_FILE)).unwrap();
        pki.kubelet_client_tls_config().unwrap();
        let second =
            std::fs::read_to_string(dir.path().join("pki").join(KUBELET_CLIENT_CERT_FILE)).unwrap();
        assert_eq!(first, second);
    }
}
