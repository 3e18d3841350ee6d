//! PKCS#10 certificate signing requests: reading one as the API server validates it,
//! writing one as a kubelet asks for a certificate, and signing one with the cluster CA as
//! kube-controller-manager's csrsigning controller does.
//!
//! Upstream parses `spec.request` with Go's `x509.ParseCertificateRequest` and checks its
//! signature (`pkg/apis/certificates/v1/helpers.go`, `ParseCSR`); the signer copies the
//! request's subject, public key and subject alternative names into a certificate whose
//! key usages come from `spec.usages`, backdated five minutes against clock skew
//! (`pkg/controller/certificates/authority`).

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::ca::CertificateAuthority;
use super::certs::pem_block;
use super::{ClusterCa, PkiError};

/// PEM label of a certificate signing request.
pub const CSR_PEM_LABEL: &str = "CERTIFICATE REQUEST";
/// How far back an issued certificate's `notBefore` is set, as upstream's signer.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Why a request is not a valid certificate signing request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrError {
    /// No PEM block, or a block of another type (upstream's wording).
    #[error("PEM block type must be CERTIFICATE REQUEST")]
    NotPem,
    /// The DER inside is not a PKCS#10 request.
    #[error("x509: malformed certificate request")]
    Malformed,
    /// The request's signature does not verify with its own public key.
    #[error("x509: ECDSA verification failure")]
    BadSignature,
}

/// What a certificate signing request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedSubject {
    /// The subject's common name (empty when absent).
    pub common_name: String,
    /// Every organization of the subject, in order.
    pub organizations: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Email subject alternative names.
    pub email_addresses: Vec<String>,
    /// URI subject alternative names.
    pub uris: Vec<String>,
}

/// The DER of the first `CERTIFICATE REQUEST` block in `pem`.
fn request_der(pem: &[u8]) -> Result<Vec<u8>, CsrError> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        match item {
            Ok((SectionKind::Csr, der)) => return Ok(der),
            Ok(_) => continue,
            Err(_) => return Err(CsrError::NotPem),
        }
    }
    Err(CsrError::NotPem)
}

/// Parses a PEM certificate signing request and checks its signature.
pub fn parse_request(pem: &[u8]) -> Result<RequestedSubject, CsrError> {
    let der = request_der(pem)?;
    let (_, csr) = X509CertificationRequest::from_der(&der).map_err(|_| CsrError::Malformed)?;
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    let info = &csr.certification_request_info;
    let mut out = RequestedSubject::default();
    for cn in info.subject.iter_common_name() {
        if out.common_name.is_empty() {
            out.common_name = cn.as_str().unwrap_or_default().to_string();
        }
    }
    out.organizations = info
        .subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.dns_names.push(d.to_string()),
                    GeneralName::RFC822Name(e) => out.email_addresses.push(e.to_string()),
                    GeneralName::URI(u) => out.uris.push(u.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            out.ip_addresses.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            out.ip_addresses.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// A new ECDSA P-256 key and a request for `O=<organizations> CN=<common_name>` with the
/// given alternative names, as the kubelet's certificate manager writes one. Returns
/// (request PEM, key PEM).
pub fn generate_request(
    common_name: &str,
    organization: Option<&str>,
    dns_names: &[String],
    ip_addresses: &[IpAddr],
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    for name in dns_names {
        params.subject_alt_names.push(SanType::DnsName(
            name.clone()
                .try_into()
                .map_err(|_| PkiError::InvalidName(name.clone()))?,
        ));
    }
    params
        .subject_alt_names
        .extend(ip_addresses.iter().copied().map(SanType::IpAddress));
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

/// Key usages a signed certificate may carry (`spec.usages` values upstream's signers map).
fn apply_usages(params: &mut CertificateParams, usages: &[String]) {
    params.key_usages.clear();
    params.extended_key_usages.clear();
    for usage in usages {
        match usage.as_str() {
            "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "content commitment" => params.key_usages.push(KeyUsagePurpose::ContentCommitment),
            "data encipherment" => params.key_usages.push(KeyUsagePurpose::DataEncipherment),
            "key agreement" => params.key_usages.push(KeyUsagePurpose::KeyAgreement),
            "server auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth),
            "client auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
            _ => {}
        }
    }
}

impl ClusterCa {
    /// Signs the PEM request `request_pem` for `lifetime` (cut to the CA's own expiry), with
    /// the key usages named in `usages` (upstream's `KeyUsage` strings). The certificate
    /// keeps the request's subject exactly, every organization included. Returns the
    /// certificate PEM.
    pub fn sign_request(
        &self,
        request_pem: &[u8],
        usages: &[String],
        lifetime: Duration,
    ) -> Result<String, PkiError> {
        sign_request(&self.0, request_pem, usages, lifetime)
    }

    /// When the CA certificate expires, as seconds since the epoch.
    pub fn not_after_unix(&self) -> Option<i64> {
        let (_, cert) = x509_parser::parse_x509_certificate(self.0.cert_der()).ok()?;
        Some(cert.validity().not_after.timestamp())
    }
}

fn sign_request(
    ca: &CertificateAuthority,
    request_pem: &[u8],
    usages: &[String],
    lifetime: Duration,
) -> Result<String, PkiError> {
    let bad = |e: CsrError| PkiError::InvalidCertificate(e.to_string());
    let der = request_der(request_pem).map_err(bad)?;
    let (_, parsed) =
        X509CertificationRequest::from_der(&der).map_err(|_| bad(CsrError::Malformed))?;
    let subject_der = parsed.certification_request_info.subject.as_raw().to_vec();
    let mut request = CertificateSigningRequestParams::from_der(&der.clone().into())
        .map_err(|_| bad(CsrError::BadSignature))?;
    let params = &mut request.params;
    apply_usages(params, usages);
    params.use_authority_key_identifier_extension = true;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut not_after = now.saturating_add(lifetime);
    let ca_expiry = x509_parser::parse_x509_certificate(ca.cert_der())
        .ok()
        .and_then(|(_, c)| u64::try_from(c.validity().not_after.timestamp()).ok())
        .map(Duration::from_secs);
    if let Some(ca_expiry) = ca_expiry {
        not_after = not_after.min(ca_expiry);
    }
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    // A tenth of the life at most: a certificate of a few minutes (tests) must not be
    // mostly in the past when issued.
    params.not_before = epoch + now.saturating_sub(BACKDATE.min(lifetime / 10));
    params.not_after = epoch + not_after;
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let cert = ca.sign_request(request)?;
    let der = ca.replace_subject_of(cert.der(), &subject_der)?;
    Ok(pem_block("CERTIFICATE", &der))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> ClusterCa {
        ClusterCa(CertificateAuthority::create().unwrap())
    }

    #[test]
    fn a_generated_request_reads_back_with_its_names() {
        let (pem, _key) = generate_request(
            "system:node:pi-2",
            Some("system:nodes"),
            &["pi-2".into()],
            &["192.168.1.20".parse().unwrap()],
        )
        .unwrap();
        let subject = parse_request(pem.as_bytes()).unwrap();
        assert_eq!(subject.common_name, "system:node:pi-2");
        assert_eq!(subject.organizations, vec!["system:nodes".to_string()]);
        assert_eq!(subject.dns_names, vec!["pi-2".to_string()]);
        assert_eq!(
            subject.ip_addresses,
            vec!["192.168.1.20".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn other_pem_blocks_and_garbage_are_refused_with_upstreams_words() {
        let ca = ca();
        assert_eq!(
            parse_request(ca.ca_pem().as_bytes())
                .unwrap_err()
                .to_string(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        assert_eq!(parse_request(b"hello").unwrap_err(), CsrError::NotPem);
        let bogus = pem_block(CSR_PEM_LABEL, b"\x30\x03\x02\x01\x00");
        assert_eq!(
            parse_request(bogus.as_bytes()).unwrap_err(),
            CsrError::Malformed
        );
    }

    #[test]
    fn a_signed_request_keeps_its_subject_and_gets_the_lifetime_asked() {
        let ca = ca();
        let (pem, key) =
            generate_request("system:node:pi-2", Some("system:nodes"), &[], &[]).unwrap();
        let usages = vec!["digital signature".to_string(), "client auth".to_string()];
        let cert = ca
            .sign_request(pem.as_bytes(), &usages, Duration::from_secs(600))
            .unwrap();
        let der = super::super::ca::first_certificate(&cert).unwrap();
        let who = super::super::identity::identity_from_certificate(&der).unwrap();
        assert_eq!(who.user, "system:node:pi-2");
        assert!(who.in_group("system:nodes"));
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        let life =
            parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
        assert_eq!(life, 600 + 60);
        // the certificate works with the key that made the request
        super::super::client_tls_config(ca.ca_pem(), Some((&cert, &key))).unwrap();
    }
}
