//! Protobuf tables for core/v1 kinds other than `Pod`: `Node`, `Namespace`, `Event`, `ConfigMap`,
//! `Secret`, `Service`, `Endpoints`, `PersistentVolume`, `PersistentVolumeClaim` and
//! `Binding`. Field numbers and JSON names are those of Kubernetes v1.32; see `schema` for
//! the notation.

/// Other object messages of `k8s.io/api/core/v1/generated.proto`.
pub const TABLE: &str = "
Node 1 metadata ObjectMeta; 2 spec NodeSpec; 3 status NodeStatus
NodeSpec 1 podCIDR s; 7 podCIDRs *s; 3 providerID s; 4 unschedulable b; 5 taints *Taint;
    6 configSource NodeConfigSource; 2 externalID s
Taint 1 key s!; 2 value s; 3 effect s!; 4 timeAdded t
NodeConfigSource 2 configMap ConfigMapNodeConfigSource
ConfigMapNodeConfigSource 1 namespace s!; 2 name s!; 3 uid s; 4 resourceVersion s;
    5 kubeletConfigKey s!
NodeStatus 1 capacity {q}; 2 allocatable {q}; 3 phase s; 4 conditions *NodeCondition;
    5 addresses *NodeAddress; 6 daemonEndpoints NodeDaemonEndpoints; 7 nodeInfo NodeSystemInfo;
    8 images *ContainerImage; 9 volumesInUse *s; 10 volumesAttached *AttachedVolume;
    11 config NodeConfigStatus; 12 runtimeHandlers *NodeRuntimeHandler; 13 features NodeFeatures
NodeCondition 1 type s!; 2 status s!; 3 lastHeartbeatTime t; 4 lastTransitionTime t; 5 reason s;
    6 message s
NodeAddress 1 type s!; 2 address s!
NodeDaemonEndpoints 1 kubeletEndpoint DaemonEndpoint
DaemonEndpoint 1 Port i!
NodeSystemInfo 1 machineID s!; 2 systemUUID s!; 3 bootID s!; 4 kernelVersion s!; 5 osImage s!;
    6 containerRuntimeVersion s!; 7 kubeletVersion s!; 8 kubeProxyVersion s!;
    9 operatingSystem s!; 10 architecture s!
ContainerImage 1 names *s; 2 sizeBytes l
AttachedVolume 1 name s!; 2 devicePath s!
NodeConfigStatus 1 assigned NodeConfigSource; 2 active NodeConfigSource;
    3 lastKnownGood NodeConfigSource; 4 error s
NodeRuntimeHandler 1 name s!; 2 features NodeRuntimeHandlerFeatures
NodeRuntimeHandlerFeatures 1 recursiveReadOnlyMounts b!; 2 userNamespaces b!
NodeFeatures 1 supplementalGroupsPolicy b!
Namespace 1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus
NamespaceSpec 1 finalizers *s
NamespaceStatus 1 phase s; 2 conditions *NamespaceCondition
NamespaceCondition 1 type s!; 2 status s!; 4 lastTransitionTime t; 5 reason s; 6 message s
Event 1 metadata ObjectMeta; 2 involvedObject ObjectReference; 3 reason s; 4 message s;
    5 source EventSource; 6 firstTimestamp t; 7 lastTimestamp t; 8 count i; 9 type s;
    10 eventTime u; 11 series EventSeries; 12 action s; 13 related ObjectReference;
    14 reportingComponent s!; 15 reportingInstance s!
ObjectReference 1 kind s; 2 namespace s; 3 name s; 4 uid s; 5 apiVersion s; 6 resourceVersion s;
    7 fieldPath s
EventSource 1 component s; 2 host s
EventSeries 1 count i; 2 lastObservedTime u
ConfigMap 1 metadata ObjectMeta; 4 immutable b!; 2 data {s}; 3 binaryData {y}
Secret 1 metadata ObjectMeta; 5 immutable b!; 2 data {y}; 4 stringData {s}; 3 type s
ServiceAccount 1 metadata ObjectMeta; 2 secrets *ObjectReference;
    3 imagePullSecrets *LocalObjectReference; 4 automountServiceAccountToken b
Service 1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus
ServiceSpec 1 ports *ServicePort; 2 selector {s}; 3 clusterIP s; 18 clusterIPs *s; 4 type s;
    5 externalIPs *s; 7 sessionAffinity s; 8 loadBalancerIP s; 9 loadBalancerSourceRanges *s;
    10 externalName s; 11 externalTrafficPolicy s; 12 healthCheckNodePort i;
    13 publishNotReadyAddresses b; 14 sessionAffinityConfig SessionAffinityConfig;
    19 ipFamilies *s; 17 ipFamilyPolicy s!; 20 allocateLoadBalancerNodePorts b!;
    21 loadBalancerClass s!; 22 internalTrafficPolicy s!; 23 trafficDistribution s!
ServicePort 1 name s; 2 protocol s; 6 appProtocol s!; 3 port i!; 4 targetPort x; 5 nodePort i
SessionAffinityConfig 1 clientIP ClientIPConfig
ClientIPConfig 1 timeoutSeconds i!
ServiceStatus 1 loadBalancer LoadBalancerStatus; 2 conditions *Condition
LoadBalancerStatus 1 ingress *LoadBalancerIngress
LoadBalancerIngress 1 ip s; 2 hostname s; 3 ipMode s!; 4 ports *PortStatus
PortStatus 1 port i!; 2 protocol s!; 3 error s!
Endpoints 1 metadata ObjectMeta; 2 subsets *EndpointSubset
EndpointSubset 1 addresses *EndpointAddress; 2 notReadyAddresses *EndpointAddress;
    3 ports *EndpointPort
EndpointAddress 1 ip s!; 3 hostname s; 4 nodeName s!; 2 targetRef ObjectReference
EndpointPort 1 name s; 2 port i!; 3 protocol s; 4 appProtocol s!
PersistentVolume 1 metadata ObjectMeta; 2 spec PersistentVolumeSpec;
    3 status PersistentVolumeStatus
PersistentVolumeSpec 1 capacity {q}; 2 - PersistentVolumeSource; 3 accessModes *s;
    4 claimRef ObjectReference; 5 persistentVolumeReclaimPolicy s; 6 storageClassName s;
    7 mountOptions *s; 8 volumeMode s!; 9 nodeAffinity VolumeNodeAffinity;
    10 volumeAttributesClassName s!
VolumeNodeAffinity 1 required NodeSelector
PersistentVolumeStatus 1 phase s; 2 message s; 3 reason s; 4 lastPhaseTransitionTime t
PersistentVolumeClaim 1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec;
    3 status PersistentVolumeClaimStatus
PersistentVolumeClaimStatus 1 phase s; 2 accessModes *s; 3 capacity {q};
    4 conditions *PersistentVolumeClaimCondition; 5 allocatedResources {q};
    7 allocatedResourceStatuses {s}; 8 currentVolumeAttributesClassName s!;
    9 modifyVolumeStatus ModifyVolumeStatus
PersistentVolumeClaimCondition 1 type s!; 2 status s!; 3 lastProbeTime t; 4 lastTransitionTime t;
    5 reason s; 6 message s
ModifyVolumeStatus 1 targetVolumeAttributesClassName s; 2 status s!
Binding 1 metadata ObjectMeta; 2 target ObjectReference
TopologySelectorTerm 1 matchLabelExpressions *TopologySelectorLabelRequirement
TopologySelectorLabelRequirement 1 key s!; 2 values *s
";
