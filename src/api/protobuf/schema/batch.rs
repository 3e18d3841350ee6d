//! Protobuf tables for batch/v1 `Job` and `CronJob` (what `kubectl create job|cronjob` sends).
//! Field numbers and JSON names are those of Kubernetes v1.32; see `schema` for the notation.

/// Messages of `k8s.io/api/batch/v1/generated.proto`.
pub const TABLE: &str = "
Job 1 metadata ObjectMeta; 2 spec JobSpec; 3 status JobStatus
JobSpec 1 parallelism i!; 2 completions i!; 3 activeDeadlineSeconds l!;
    11 podFailurePolicy PodFailurePolicy; 16 successPolicy SuccessPolicy; 7 backoffLimit i!;
    12 backoffLimitPerIndex i!; 13 maxFailedIndexes i!; 4 selector LabelSelector;
    5 manualSelector b!; 6 template PodTemplateSpec; 8 ttlSecondsAfterFinished i!;
    9 completionMode s!; 10 suspend b!; 14 podReplacementPolicy s!; 15 managedBy s!
JobStatus 1 conditions *JobCondition; 2 startTime t; 3 completionTime t; 4 active i;
    5 succeeded i; 6 failed i; 11 terminating i!; 7 completedIndexes s; 10 failedIndexes s!;
    8 uncountedTerminatedPods UncountedTerminatedPods; 9 ready i!
JobCondition 1 type s!; 2 status s!; 3 lastProbeTime t; 4 lastTransitionTime t; 5 reason s;
    6 message s
UncountedTerminatedPods 1 succeeded *s; 2 failed *s
PodFailurePolicy 1 rules *PodFailurePolicyRule
PodFailurePolicyRule 1 action s!; 2 onExitCodes PodFailurePolicyOnExitCodesRequirement;
    3 onPodConditions *PodFailurePolicyOnPodConditionsPattern
PodFailurePolicyOnExitCodesRequirement 1 containerName s!; 2 operator s!; 3 values *i
PodFailurePolicyOnPodConditionsPattern 1 type s!; 2 status s!
SuccessPolicy 1 rules *SuccessPolicyRule
SuccessPolicyRule 1 succeededIndexes s!; 2 succeededCount i!
CronJob 1 metadata ObjectMeta; 2 spec CronJobSpec; 3 status CronJobStatus
CronJobSpec 1 schedule s!; 8 timeZone s!; 2 startingDeadlineSeconds l!; 3 concurrencyPolicy s;
    4 suspend b!; 5 jobTemplate JobTemplateSpec; 6 successfulJobsHistoryLimit i!;
    7 failedJobsHistoryLimit i!
CronJobStatus 1 active *ObjectReference; 4 lastScheduleTime t; 5 lastSuccessfulTime t
JobTemplateSpec 1 metadata ObjectMeta; 2 spec JobSpec
";
