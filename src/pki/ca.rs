//! The cluster certificate authority: one self-signed CA that signs the API server's
//! certificate and every client certificate (admin, viewers, nodes).
//!
//! Like kubeadm and k3s, Bramble creates the CA on first start and keeps it for the life of
//! the cluster: every kubeconfig and every joined board trusts exactly this CA, so replacing
//! it would disconnect them all.

use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::SignatureScheme;

use super::PkiError;

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "bramble-ca";
/// Lifetime of the CA certificate: about ten years, as kubeadm's CA.
pub const CA_VALIDITY_DAYS: u64 = 3650;
/// How far back `notBefore` is set, so boards whose clocks lag a little accept new certs.
const CLOCK_SKEW: Duration = Duration::from_secs(60 * 60);

/// The CA certificate and key, ready to sign.
pub(crate) struct CertificateAuthority {
    /// The CA certificate exactly as stored on disk (and as handed to clients).
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    /// The CA as rcgen's issuer: same subject, key and key identifier as `cert_der`.
    issuer: Certificate,
}

impl CertificateAuthority {
    /// Creates a new CA with a fresh ECDSA P-256 key.
    pub(crate) fn create() -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        set_validity(&mut params, CA_VALIDITY_DAYS);
        let issuer = params.self_signed(&key)?;
        let cert_pem = issuer.pem();
        let cert_der = issuer.der().clone();
        Ok(CertificateAuthority {
            cert_pem,
            cert_der,
            key,
            issuer,
        })
    }

    /// Loads a CA from its PEM certificate and PEM (PKCS#8) key.
    pub(crate) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert_der = first_certificate(cert_pem)?;
        let params = CertificateParams::from_ca_cert_der(&cert_der)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| PkiError::InvalidCertificate(format!("CA certificate: {e}")))?;
        if parsed.public_key().raw != key.public_key_der().as_slice() {
            return Err(PkiError::InvalidCertificate(
                "CA key does not match the CA certificate".to_string(),
            ));
        }
        // Re-signing yields a throwaway certificate; only its subject, key identifier and key
        // are used, and those equal the stored CA's, so issued certificates chain to it.
        let issuer = params.self_signed(&key)?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            cert_der,
            key,
            issuer,
        })
    }

    /// The CA certificate in PEM.
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER.
    pub(crate) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA private key in PEM (PKCS#8).
    pub(crate) fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Signs `params` for the holder of `subject_key`.
    pub(crate) fn sign(
        &self,
        params: CertificateParams,
        subject_key: &KeyPair,
    ) -> Result<Certificate, PkiError> {
        Ok(params.signed_by(subject_key, &self.issuer, &self.key)?)
    }

    /// Signs `params`, then gives the certificate the subject `subject_der` (see `subject.rs`).
    pub(crate) fn sign_with_subject(
        &self,
        params: CertificateParams,
        subject_key: &KeyPair,
        subject_der: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        let cert = self.sign(params, subject_key)?;
        super::subject::replace_subject(
            cert.der(),
            subject_der,
            self.key.serialized_der(),
            self.signature_scheme()?,
        )
    }

    /// Signs a parsed certificate signing request.
    pub(crate) fn sign_request(
        &self,
        request: rcgen::CertificateSigningRequestParams,
    ) -> Result<Certificate, PkiError> {
        Ok(request.signed_by(&self.issuer, &self.key)?)
    }

    /// Gives the signed certificate `cert_der` the subject `subject_der` (see `subject.rs`).
    pub(crate) fn replace_subject_of(
        &self,
        cert_der: &[u8],
        subject_der: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        super::subject::replace_subject(
            cert_der,
            subject_der,
            self.key.serialized_der(),
            self.signature_scheme()?,
        )
    }

    /// The TLS signature scheme matching the algorithm rcgen signs with for this CA key.
    fn signature_scheme(&self) -> Result<SignatureScheme, PkiError> {
        let alg = self.key.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Ok(SignatureScheme::ECDSA_NISTP256_SHA256)
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            Ok(SignatureScheme::ECDSA_NISTP384_SHA384)
        } else if alg == &rcgen::PKCS_ED25519 {
            Ok(SignatureScheme::ED25519)
        } else if alg == &rcgen::PKCS_RSA_SHA256 {
            Ok(SignatureScheme::RSA_PKCS1_SHA256)
        } else {
            Err(PkiError::InvalidCertificate(format!(
                "unsupported CA key algorithm {alg:?}"
            )))
        }
    }
}

/// Sets `notBefore` an hour in the past and `notAfter` `days` from now, with a random serial.
pub(crate) fn set_validity(params: &mut CertificateParams, days: u64) {
    set_lifetime(
        params,
        Duration::from_secs(days.saturating_mul(24 * 60 * 60)),
    );
}

/// Sets `notAfter` `lifetime` from now and `notBefore` an hour in the past (a tenth of the
/// lifetime for lives under ten hours, so a short-lived certificate is not mostly past),
/// with a random serial.
pub(crate) fn set_lifetime(params: &mut CertificateParams, lifetime: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(CLOCK_SKEW.min(lifetime / 10));
    params.not_after = epoch + now.saturating_add(lifetime);
    // RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes with the top bit clear.
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

/// The first certificate in a PEM bundle, as DER.
pub(crate) fn first_certificate(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| PkiError::InvalidCertificate("no CERTIFICATE block in PEM".to_string()))?
        .map_err(|e| PkiError::InvalidCertificate(format!("bad PEM: {e}")))
}
