//! Protobuf tables for authentication.k8s.io/v1 `TokenRequest` (the `serviceaccounts/token`
//! subresource's body). Field numbers and JSON names are those of Kubernetes v1.32; see
//! `schema` for the notation.

/// Messages of `k8s.io/api/authentication/v1/generated.proto`.
pub const TABLE: &str = "
TokenRequest 1 metadata ObjectMeta; 2 spec TokenRequestSpec; 3 status TokenRequestStatus
TokenRequestSpec 1 audiences *s; 4 expirationSeconds l; 3 boundObjectRef BoundObjectReference
BoundObjectReference 1 kind s; 2 apiVersion s; 3 name s; 4 uid s
TokenRequestStatus 1 token s!; 2 expirationTimestamp t
";
