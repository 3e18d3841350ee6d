//! Protobuf tables for apps/v1 (`Deployment`, `ReplicaSet`, `DaemonSet`, `StatefulSet`,
//! `ControllerRevision`), the core/v1 `ReplicationController` (its `PodTemplateSpec` is with the
//! pod's messages), and autoscaling/v1 `Scale`. Field numbers and JSON names are those of Kubernetes
//! v1.32; see `schema` for the notation.

/// Messages of `k8s.io/api/apps/v1/generated.proto` and the workload messages of
/// `k8s.io/api/core/v1` and `k8s.io/api/autoscaling/v1`.
pub const TABLE: &str = "
Deployment 1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus
DeploymentSpec 1 replicas i!; 2 selector LabelSelector; 3 template PodTemplateSpec;
    4 strategy DeploymentStrategy; 5 minReadySeconds i; 6 revisionHistoryLimit i!; 7 paused b;
    9 progressDeadlineSeconds i!
DeploymentStrategy 1 type s; 2 rollingUpdate RollingUpdateDeployment
RollingUpdateDeployment 1 maxUnavailable x; 2 maxSurge x
DeploymentStatus 1 observedGeneration l; 2 replicas i; 3 updatedReplicas i; 7 readyReplicas i;
    4 availableReplicas i; 5 unavailableReplicas i; 6 conditions *DeploymentCondition;
    8 collisionCount i!
DeploymentCondition 1 type s!; 2 status s!; 6 lastUpdateTime t; 7 lastTransitionTime t;
    4 reason s; 5 message s
ReplicaSet 1 metadata ObjectMeta; 2 spec ReplicaSetSpec; 3 status ReplicaSetStatus
ReplicaSetSpec 1 replicas i!; 4 minReadySeconds i; 2 selector LabelSelector;
    3 template PodTemplateSpec
ReplicaSetStatus 1 replicas i!; 2 fullyLabeledReplicas i; 4 readyReplicas i;
    5 availableReplicas i; 3 observedGeneration l; 6 conditions *ReplicaSetCondition
ReplicaSetCondition 1 type s!; 2 status s!; 3 lastTransitionTime t; 4 reason s; 5 message s
DaemonSet 1 metadata ObjectMeta; 2 spec DaemonSetSpec; 3 status DaemonSetStatus
DaemonSetSpec 1 selector LabelSelector; 2 template PodTemplateSpec;
    3 updateStrategy DaemonSetUpdateStrategy; 4 minReadySeconds i; 6 revisionHistoryLimit i!
DaemonSetUpdateStrategy 1 type s; 2 rollingUpdate RollingUpdateDaemonSet
RollingUpdateDaemonSet 1 maxUnavailable x; 2 maxSurge x
DaemonSetStatus 1 currentNumberScheduled i!; 2 numberMisscheduled i!;
    3 desiredNumberScheduled i!; 4 numberReady i!; 5 observedGeneration l;
    6 updatedNumberScheduled i; 7 numberAvailable i; 8 numberUnavailable i; 9 collisionCount i!;
    10 conditions *DaemonSetCondition
DaemonSetCondition 1 type s!; 2 status s!; 3 lastTransitionTime t; 4 reason s; 5 message s
StatefulSet 1 metadata ObjectMeta; 2 spec StatefulSetSpec; 3 status StatefulSetStatus
StatefulSetSpec 1 replicas i!; 2 selector LabelSelector; 3 template PodTemplateSpec;
    4 volumeClaimTemplates *PersistentVolumeClaim; 5 serviceName s; 6 podManagementPolicy s;
    7 updateStrategy StatefulSetUpdateStrategy; 8 revisionHistoryLimit i!; 9 minReadySeconds i;
    10 persistentVolumeClaimRetentionPolicy StatefulSetPersistentVolumeClaimRetentionPolicy;
    11 ordinals StatefulSetOrdinals
StatefulSetUpdateStrategy 1 type s; 2 rollingUpdate RollingUpdateStatefulSetStrategy
RollingUpdateStatefulSetStrategy 1 partition i!; 2 maxUnavailable x
StatefulSetPersistentVolumeClaimRetentionPolicy 1 whenDeleted s; 2 whenScaled s
StatefulSetOrdinals 1 start i!
StatefulSetStatus 1 observedGeneration l; 2 replicas i!; 3 readyReplicas i;
    4 currentReplicas i; 5 updatedReplicas i; 6 currentRevision s; 7 updateRevision s;
    9 collisionCount i!; 10 conditions *StatefulSetCondition; 11 availableReplicas i!
StatefulSetCondition 1 type s!; 2 status s!; 3 lastTransitionTime t; 4 reason s; 5 message s
ControllerRevision 1 metadata ObjectMeta; 2 data j; 3 revision l!
ReplicationController 1 metadata ObjectMeta; 2 spec ReplicationControllerSpec;
    3 status ReplicationControllerStatus
ReplicationControllerSpec 1 replicas i!; 4 minReadySeconds i; 2 selector {s};
    3 template PodTemplateSpec
ReplicationControllerStatus 1 replicas i!; 2 fullyLabeledReplicas i; 4 readyReplicas i;
    5 availableReplicas i; 3 observedGeneration l; 6 conditions *ReplicationControllerCondition
ReplicationControllerCondition 1 type s!; 2 status s!; 3 lastTransitionTime t; 4 reason s;
    5 message s
Scale 1 metadata ObjectMeta; 2 spec ScaleSpec; 3 status ScaleStatus
ScaleSpec 1 replicas i
ScaleStatus 1 replicas i!; 2 selector s
";
