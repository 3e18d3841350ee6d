//! Protobuf tables for policy/v1 `PodDisruptionBudget` and `Eviction` (what `kubectl create
//! pdb` and `kubectl drain` send). Field numbers and JSON names are those of Kubernetes v1.32;
//! see `schema` for the notation.

/// Messages of `k8s.io/api/policy/v1/generated.proto`.
pub const TABLE: &str = "
PodDisruptionBudget 1 metadata ObjectMeta; 2 spec PodDisruptionBudgetSpec;
    3 status PodDisruptionBudgetStatus
PodDisruptionBudgetSpec 1 minAvailable x; 2 selector LabelSelector; 3 maxUnavailable x;
    4 unhealthyPodEvictionPolicy s!
PodDisruptionBudgetStatus 1 observedGeneration l; 2 disruptedPods {t}; 3 disruptionsAllowed i!;
    4 currentHealthy i!; 5 desiredHealthy i!; 6 expectedPods i!; 7 conditions *Condition
Eviction 1 metadata ObjectMeta; 2 deleteOptions DeleteOptions
";
