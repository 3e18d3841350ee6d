//! Protobuf tables for storage.k8s.io/v1 `StorageClass`.
//! Field numbers and JSON names are those of Kubernetes v1.32; see `schema` for the notation.

/// Messages of `k8s.io/api/storage/v1/generated.proto`.
pub const TABLE: &str = "
StorageClass 1 metadata ObjectMeta; 2 provisioner s!; 3 parameters {s}; 4 reclaimPolicy s!;
    5 mountOptions *s; 6 allowVolumeExpansion b!; 7 volumeBindingMode s!;
    8 allowedTopologies *TopologySelectorTerm
";
