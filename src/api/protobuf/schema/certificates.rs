//! Protobuf tables for certificates.k8s.io/v1 `CertificateSigningRequest` (kubectl's
//! `certificate approve|deny` send it as protobuf). Field numbers and JSON names are those
//! of Kubernetes v1.32; see `schema` for the notation. `spec.extra` (a map of `ExtraValue`,
//! bare lists in JSON) is left out, as in the review kinds: the API server fills it.

/// Messages of `k8s.io/api/certificates/v1/generated.proto`.
pub const TABLE: &str = "
CertificateSigningRequest 1 metadata ObjectMeta; 2 spec CertificateSigningRequestSpec;
    3 status CertificateSigningRequestStatus
CertificateSigningRequestSpec 1 request y!; 2 username s; 3 uid s; 4 groups *s; 5 usages *s;
    7 signerName s!; 8 expirationSeconds i!
CertificateSigningRequestStatus 1 conditions *CertificateSigningRequestCondition;
    2 certificate y
CertificateSigningRequestCondition 1 type s!; 2 reason s; 3 message s; 4 lastUpdateTime t;
    5 lastTransitionTime t; 6 status s!
";
