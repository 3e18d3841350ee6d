//! Protobuf tables for the authentication.k8s.io/v1 request bodies: `TokenRequest` (the
//! `serviceaccounts/token` subresource), `TokenReview` and `SelfSubjectReview`. Field
//! numbers and JSON names are those of Kubernetes v1.32; see `schema` for the notation.
//! `UserInfo.extra` (a map of `ExtraValue`, written to JSON as bare lists) is left out:
//! requests never carry it and answers are JSON.

/// Messages of `k8s.io/api/authentication/v1/generated.proto`.
pub const TABLE: &str = "
TokenRequest 1 metadata ObjectMeta; 2 spec TokenRequestSpec; 3 status TokenRequestStatus
TokenRequestSpec 1 audiences *s; 4 expirationSeconds l; 3 boundObjectRef BoundObjectReference
BoundObjectReference 1 kind s; 2 apiVersion s; 3 name s; 4 uid s
TokenRequestStatus 1 token s!; 2 expirationTimestamp t
TokenReview 1 metadata ObjectMeta; 2 spec TokenReviewSpec; 3 status TokenReviewStatus
TokenReviewSpec 1 token s; 2 audiences *s
TokenReviewStatus 1 authenticated b; 2 user UserInfo; 4 audiences *s; 3 error s
UserInfo 1 username s; 2 uid s; 3 groups *s
SelfSubjectReview 1 metadata ObjectMeta; 2 status SelfSubjectReviewStatus
SelfSubjectReviewStatus 1 userInfo UserInfo
";
