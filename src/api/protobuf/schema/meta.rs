//! Protobuf tables for apimachinery `meta/v1` messages shared by every kind: object metadata,
//! owner references, managed fields, label selectors, conditions and delete options. Field numbers
//! and JSON names are those of Kubernetes v1.32; see `schema` for the notation.

/// Messages of `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`.
pub const TABLE: &str = "
ObjectMeta 1 name s; 2 generateName s; 3 namespace s; 4 selfLink s; 5 uid s; 6 resourceVersion s;
    7 generation l; 8 creationTimestamp t; 9 deletionTimestamp t;
    10 deletionGracePeriodSeconds l!; 11 labels {s}; 12 annotations {s};
    13 ownerReferences *OwnerReference; 14 finalizers *s; 17 managedFields *ManagedFieldsEntry
OwnerReference 5 apiVersion s!; 1 kind s!; 3 name s!; 4 uid s!; 6 controller b!;
    7 blockOwnerDeletion b!
ManagedFieldsEntry 1 manager s; 2 operation s; 3 apiVersion s; 4 time t; 6 fieldsType s;
    7 fieldsV1 j; 8 subresource s
LabelSelector 1 matchLabels {s}; 2 matchExpressions *LabelSelectorRequirement
LabelSelectorRequirement 1 key s!; 2 operator s!; 3 values *s
Condition 1 type s!; 2 status s!; 3 observedGeneration l; 4 lastTransitionTime t; 5 reason s!;
    6 message s!
DeleteOptions 1 gracePeriodSeconds l!; 2 preconditions Preconditions; 3 orphanDependents b!;
    4 propagationPolicy s!; 5 dryRun *s; 6 ignoreStoreReadErrorWithClusterBreakingPotential b!
Preconditions 1 uid s!; 2 resourceVersion s!
";
