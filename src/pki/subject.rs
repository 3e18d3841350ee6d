//! Client certificate subjects with several Organization attributes.
//!
//! Kubernetes reads a client certificate's groups from *every* `O=` attribute of its subject
//! (`x509.CommonNameUserConversion` in k8s.io/apiserver), so a user in two groups needs a
//! subject with two `O` attributes. rcgen keeps one value per attribute type, so Bramble lets
//! rcgen build and sign the certificate, then swaps in a subject it encodes itself and signs
//! the new `TBSCertificate` again with the CA key. Only the outer DER framing is touched:
//! certificate = SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING }, with
//! the subject the sixth element of the TBS (RFC 5280 §4.1).

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::SignatureScheme;

use super::PkiError;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_VERSION: u8 = 0xa0;
/// DER of OID 2.5.4.3 (commonName).
const OID_COMMON_NAME: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
/// DER of OID 2.5.4.10 (organizationName).
const OID_ORGANIZATION: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x0a];

/// Encodes the subject `O=<org>... CN=<cn>` as a DER `Name`, one RDN per attribute, in the
/// order Go's `pkix.Name` writes them (organizations before the common name).
pub(crate) fn encode_subject(common_name: &str, organizations: &[&str]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for org in organizations {
        push_rdn(&mut rdns, &OID_ORGANIZATION, org);
    }
    push_rdn(&mut rdns, &OID_COMMON_NAME, common_name);
    let mut name = Vec::with_capacity(rdns.len() + 4);
    write_tlv(TAG_SEQUENCE, &rdns, &mut name);
    name
}

fn push_rdn(out: &mut Vec<u8>, oid: &[u8], value: &str) {
    let mut attribute = oid.to_vec();
    write_tlv(TAG_UTF8_STRING, value.as_bytes(), &mut attribute);
    let mut type_and_value = Vec::new();
    write_tlv(TAG_SEQUENCE, &attribute, &mut type_and_value);
    write_tlv(TAG_SET, &type_and_value, out);
}

/// Returns `cert_der` with its subject replaced by `subject_der`, re-signed with `ca_key_der`
/// (PKCS#8) using the signature algorithm already named in the certificate.
pub(crate) fn replace_subject(
    cert_der: &[u8],
    subject_der: &[u8],
    ca_key_der: &[u8],
    scheme: SignatureScheme,
) -> Result<Vec<u8>, PkiError> {
    let malformed = || PkiError::InvalidCertificate("malformed certificate DER".to_string());
    let (cert_body, _) = read_tlv(cert_der, TAG_SEQUENCE).ok_or_else(malformed)?;
    let (tbs_body, after_tbs) = read_tlv(cert_body, TAG_SEQUENCE).ok_or_else(malformed)?;
    let (_, after_alg) = read_tlv(after_tbs, TAG_SEQUENCE).ok_or_else(malformed)?;
    let algorithm = &after_tbs[..after_tbs.len() - after_alg.len()];

    // Walk the TBS fields: an explicit version [0] may precede serialNumber, then signature,
    // issuer, validity, subject.
    let mut fields: Vec<&[u8]> = Vec::with_capacity(8);
    let mut rest = tbs_body;
    while !rest.is_empty() {
        let tag = rest[0];
        let (_, next) = read_tlv(rest, tag).ok_or_else(malformed)?;
        fields.push(&rest[..rest.len() - next.len()]);
        rest = next;
    }
    let subject_index = if fields.first().map(|f| f[0]) == Some(TAG_VERSION) {
        5
    } else {
        4
    };
    if fields.len() <= subject_index || fields[subject_index][0] != TAG_SEQUENCE {
        return Err(malformed());
    }
    fields[subject_index] = subject_der;

    let mut tbs = Vec::with_capacity(tbs_body.len() + subject_der.len() + 8);
    write_tlv(TAG_SEQUENCE, &fields.concat(), &mut tbs);

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca_key_der.to_vec()));
    let signer = any_supported_type(&key)?
        .choose_scheme(&[scheme])
        .ok_or_else(|| {
            PkiError::InvalidCertificate(format!("CA key cannot sign with {scheme:?}"))
        })?;
    let signature = signer.sign(&tbs)?;
    let mut bit_string = Vec::with_capacity(signature.len() + 1);
    bit_string.push(0); // no unused bits
    bit_string.extend_from_slice(&signature);

    let mut body = tbs;
    body.extend_from_slice(algorithm);
    write_tlv(TAG_BIT_STRING, &bit_string, &mut body);
    let mut cert = Vec::with_capacity(body.len() + 4);
    write_tlv(TAG_SEQUENCE, &body, &mut cert);
    Ok(cert)
}

/// Reads one DER element with the expected tag; returns (contents, bytes after it).
fn read_tlv(input: &[u8], expected_tag: u8) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag != expected_tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

fn write_tlv(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        let contents = vec![7u8; 300];
        let mut out = Vec::new();
        write_tlv(TAG_SEQUENCE, &contents, &mut out);
        assert_eq!(&out[..4], &[0x30, 0x82, 0x01, 0x2c]);
        let (body, rest) = read_tlv(&out, TAG_SEQUENCE).unwrap();
        assert_eq!(body, &contents[..]);
        assert!(rest.is_empty());
    }

    #[test]
    fn subject_parses_with_every_organization() {
        let der = encode_subject("alice", &["dev", "ops"]);
        use x509_parser::prelude::FromDer;
        let (_, name) = x509_parser::x509::X509Name::from_der(&der).unwrap();
        let orgs: Vec<_> = name
            .iter_organization()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(orgs, vec!["dev", "ops"]);
        let cn = name.iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, "alice");
    }
}
