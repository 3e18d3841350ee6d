//! Leaf certificates: the API server's serving certificate and client certificates.
//!
//! Client identity follows Kubernetes' x509 authenticator: the subject CN is the user name
//! and each O is a group (`system:masters` for the admin, `system:nodes` with CN
//! `system:node:<name>` for a board). The server certificate must name every address a
//! client may dial, so it is checked on each start and re-issued when the host gained a
//! name or address, when it no longer chains to the CA, or when it is close to expiry.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::X509Certificate;

use super::ca::{first_certificate, set_validity, CertificateAuthority};
use super::names::ServerNames;
use super::subject::encode_subject;
use super::PkiError;

/// Common name of the API server certificate, as kubeadm names it.
pub const SERVER_COMMON_NAME: &str = "kube-apiserver";
/// Lifetime of the server certificate (one year, as kubeadm and k3s).
pub const SERVER_VALIDITY_DAYS: u64 = 365;
/// A server certificate expiring sooner than this is re-issued at start (k3s uses 90 days).
pub const SERVER_RENEW_BEFORE: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Issues a server certificate covering `names`, valid for `days`; returns (cert, key) PEM.
pub(crate) fn issue_server(
    ca: &CertificateAuthority,
    names: &ServerNames,
    days: u64,
) -> Result<(String, String), PkiError> {
    let dns: Vec<String> = names.all_dns().into_iter().collect();
    let ips: Vec<IpAddr> = names.all_ips().into_iter().collect();
    issue_serving(ca, SERVER_COMMON_NAME, &dns, &ips, days)
}

/// Issues a serving certificate with CN `common_name` for exactly `dns` and `ips`.
pub(crate) fn issue_serving(
    ca: &CertificateAuthority,
    common_name: &str,
    dns: &[String],
    ips: &[IpAddr],
    days: u64,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let mut sans = Vec::new();
    for name in dns {
        sans.push(SanType::DnsName(
            name.clone()
                .try_into()
                .map_err(|_| PkiError::InvalidName(name.clone()))?,
        ));
    }
    sans.extend(ips.iter().copied().map(SanType::IpAddress));
    params.subject_alt_names = sans;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days);
    let cert = ca.sign(params, &key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Issues a client certificate with CN = `user` and one O per group; returns (cert, key) PEM.
pub(crate) fn issue_client(
    ca: &CertificateAuthority,
    user: &str,
    groups: &[&str],
    days: u64,
) -> Result<(String, String), PkiError> {
    issue_client_for(
        ca,
        user,
        groups,
        Duration::from_secs(days.saturating_mul(24 * 60 * 60)),
    )
}

/// [`issue_client`] for a lifetime given exactly.
pub(crate) fn issue_client_for(
    ca: &CertificateAuthority,
    user: &str,
    groups: &[&str],
    lifetime: Duration,
) -> Result<(String, String), PkiError> {
    if user.is_empty() {
        // The x509 authenticator ignores certificates without a CN, so one would be useless.
        return Err(PkiError::InvalidName(String::new()));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    super::ca::set_lifetime(&mut params, lifetime);
    let der = ca.sign_with_subject(params, &key, &encode_subject(user, groups))?;
    let cert_pem = pem_block("CERTIFICATE", &der);
    Ok((cert_pem, key.serialize_pem()))
}

/// Why a stored server certificate cannot be reused, or `None` when it can.
pub(crate) fn server_cert_problem(
    ca: &CertificateAuthority,
    cert_pem: &str,
    key_pem: &str,
    names: &ServerNames,
) -> Option<String> {
    let der = match first_certificate(cert_pem) {
        Ok(der) => der,
        Err(e) => return Some(e.to_string()),
    };
    let key = match KeyPair::from_pem(key_pem) {
        Ok(key) => key,
        Err(e) => return Some(format!("unreadable key: {e}")),
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return Some("unparseable certificate".to_string());
    };
    if cert.public_key().raw != key.public_key_der().as_slice() {
        return Some("key does not match certificate".to_string());
    }
    let Ok((_, ca_cert)) = x509_parser::parse_x509_certificate(ca.cert_der()) else {
        return Some("unparseable CA certificate".to_string());
    };
    if cert.issuer().as_raw() != ca_cert.subject().as_raw()
        || authority_key_id(&cert) != subject_key_id(&ca_cert)
    {
        return Some("not signed by the cluster CA".to_string());
    }
    let renew_at = std::time::SystemTime::now() + SERVER_RENEW_BEFORE;
    let renew_at = renew_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    if cert.validity().not_after.timestamp() < renew_at.as_secs() as i64 {
        return Some("expires within 90 days".to_string());
    }
    let (dns, ips) = subject_alt_names(&cert);
    let missing_dns: Vec<_> = names
        .all_dns()
        .into_iter()
        .filter(|d| !dns.contains(d))
        .collect();
    let missing_ips: Vec<_> = names
        .all_ips()
        .into_iter()
        .filter(|i| !ips.contains(i))
        .collect();
    if !missing_dns.is_empty() || !missing_ips.is_empty() {
        return Some(format!("does not cover {missing_dns:?} {missing_ips:?}"));
    }
    None
}

/// The authorityKeyIdentifier of a certificate, if present.
fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

/// The subjectKeyIdentifier of a certificate, if present.
fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        })
}

/// DNS names and IP addresses in a certificate's subjectAltName extension.
pub(crate) fn subject_alt_names(
    cert: &X509Certificate<'_>,
) -> (BTreeSet<String>, BTreeSet<IpAddr>) {
    let mut dns = BTreeSet::new();
    let mut ips = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    dns.insert(d.to_ascii_lowercase());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.insert(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.insert(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// Every certificate in a PEM bundle, as DER (for a chain or a CA bundle).
pub(crate) fn all_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::InvalidCertificate(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::InvalidCertificate(
            "no CERTIFICATE block in PEM".to_string(),
        ));
    }
    Ok(certs)
}

/// Wraps DER bytes in a PEM block with 64-column base64 lines (RFC 7468).
pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
