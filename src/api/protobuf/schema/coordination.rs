//! Protobuf tables for coordination.k8s.io/v1 `Lease`.
//! Field numbers and JSON names are those of Kubernetes v1.32; see `schema` for the notation.

/// Messages of `k8s.io/api/coordination/v1/generated.proto`.
pub const TABLE: &str = "
Lease 1 metadata ObjectMeta; 2 spec LeaseSpec
LeaseSpec 1 holderIdentity s!; 2 leaseDurationSeconds i!; 3 acquireTime u; 4 renewTime u;
    5 leaseTransitions i!; 6 strategy s!; 7 preferredHolder s!
";
