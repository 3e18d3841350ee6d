//! Protobuf tables for rbac.authorization.k8s.io/v1 `Role`, `ClusterRole`, `RoleBinding` and
//! `ClusterRoleBinding`. Field numbers and JSON names are those of Kubernetes v1.32; see
//! `schema` for the notation.

/// Messages of `k8s.io/api/rbac/v1/generated.proto`.
pub const TABLE: &str = "
Role 1 metadata ObjectMeta; 2 rules *PolicyRule
ClusterRole 1 metadata ObjectMeta; 2 rules *PolicyRule; 3 aggregationRule AggregationRule
AggregationRule 1 clusterRoleSelectors *LabelSelector
PolicyRule 1 verbs *s; 2 apiGroups *s; 3 resources *s; 4 resourceNames *s; 5 nonResourceURLs *s
RoleBinding 1 metadata ObjectMeta; 2 subjects *Subject; 3 roleRef RoleRef
ClusterRoleBinding 1 metadata ObjectMeta; 2 subjects *Subject; 3 roleRef RoleRef
RoleRef 1 apiGroup s!; 2 kind s!; 3 name s!
Subject 1 kind s!; 2 apiGroup s; 3 name s!; 4 namespace s
";
