//! Protobuf tables for authorization.k8s.io/v1 access reviews. Field numbers and JSON names
//! are those of Kubernetes v1.32; see `schema` for the notation. `SubjectAccessReviewSpec.extra`
//! (a map of `ExtraValue`, bare lists in JSON) and the 1.32 selector attributes are left
//! out and skipped when sent.

/// Messages of `k8s.io/api/authorization/v1/generated.proto`.
pub const TABLE: &str = "
SelfSubjectAccessReview 1 metadata ObjectMeta; 2 spec SelfSubjectAccessReviewSpec;
    3 status SubjectAccessReviewStatus
SelfSubjectAccessReviewSpec 1 resourceAttributes ResourceAttributes;
    2 nonResourceAttributes NonResourceAttributes
SubjectAccessReview 1 metadata ObjectMeta; 2 spec SubjectAccessReviewSpec;
    3 status SubjectAccessReviewStatus
LocalSubjectAccessReview 1 metadata ObjectMeta; 2 spec SubjectAccessReviewSpec;
    3 status SubjectAccessReviewStatus
SubjectAccessReviewSpec 1 resourceAttributes ResourceAttributes;
    2 nonResourceAttributes NonResourceAttributes; 3 user s; 4 groups *s; 6 uid s
ResourceAttributes 1 namespace s; 2 verb s; 3 group s; 4 version s; 5 resource s;
    6 subresource s; 7 name s
NonResourceAttributes 1 path s; 2 verb s
SubjectAccessReviewStatus 1 allowed b!; 4 denied b; 2 reason s; 3 evaluationError s
SelfSubjectRulesReview 1 metadata ObjectMeta; 2 spec SelfSubjectRulesReviewSpec;
    3 status SubjectRulesReviewStatus
SelfSubjectRulesReviewSpec 1 namespace s
SubjectRulesReviewStatus 1 resourceRules *ResourceRule; 2 nonResourceRules *NonResourceRule;
    3 incomplete b!; 4 evaluationError s
ResourceRule 1 verbs *s; 2 apiGroups *s; 3 resources *s; 4 resourceNames *s
NonResourceRule 1 verbs *s; 2 nonResourceURLs *s
";
