//! Protobuf tables for core/v1 `Pod`: the full `PodSpec` (containers, probes, lifecycle hooks,
//! security contexts, affinity, tolerations, topology spread, DNS) and `PodStatus`. Field numbers
//! and JSON names are those of Kubernetes v1.32; see `schema` for the notation.

/// Pod messages of `k8s.io/api/core/v1/generated.proto`.
pub const TABLE: &str = "
Pod 1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus
PodTemplateSpec 1 metadata ObjectMeta; 2 spec PodSpec
PodSpec 1 volumes *Volume; 20 initContainers *Container; 2 containers *Container;
    34 ephemeralContainers *EphemeralContainer; 3 restartPolicy s;
    4 terminationGracePeriodSeconds l!; 5 activeDeadlineSeconds l!; 6 dnsPolicy s;
    7 nodeSelector {s}; 8 serviceAccountName s; 9 serviceAccount s;
    21 automountServiceAccountToken b!; 10 nodeName s; 11 hostNetwork b; 12 hostPID b;
    13 hostIPC b; 27 shareProcessNamespace b!; 14 securityContext PodSecurityContext;
    15 imagePullSecrets *LocalObjectReference; 16 hostname s; 17 subdomain s;
    18 affinity Affinity; 19 schedulerName s; 22 tolerations *Toleration;
    23 hostAliases *HostAlias; 24 priorityClassName s; 25 priority i!; 26 dnsConfig PodDNSConfig;
    28 readinessGates *PodReadinessGate; 29 runtimeClassName s!; 30 enableServiceLinks b!;
    31 preemptionPolicy s!; 32 overhead {q};
    33 topologySpreadConstraints *TopologySpreadConstraint; 35 setHostnameAsFQDN b!; 36 os PodOS;
    37 hostUsers b!; 38 schedulingGates *PodSchedulingGate; 39 resourceClaims *PodResourceClaim;
    40 resources ResourceRequirements
Container 1 name s!; 2 image s; 3 command *s; 4 args *s; 5 workingDir s; 6 ports *ContainerPort;
    19 envFrom *EnvFromSource; 7 env *EnvVar; 8 resources ResourceRequirements;
    23 resizePolicy *ContainerResizePolicy; 24 restartPolicy s!; 9 volumeMounts *VolumeMount;
    21 volumeDevices *VolumeDevice; 10 livenessProbe Probe; 11 readinessProbe Probe;
    22 startupProbe Probe; 12 lifecycle Lifecycle; 13 terminationMessagePath s;
    20 terminationMessagePolicy s; 14 imagePullPolicy s; 15 securityContext SecurityContext;
    16 stdin b; 17 stdinOnce b; 18 tty b
ContainerPort 1 name s; 2 hostPort i; 3 containerPort i!; 4 protocol s; 5 hostIP s
EnvFromSource 1 prefix s; 2 configMapRef ConfigMapEnvSource; 3 secretRef SecretEnvSource
ConfigMapEnvSource 1 - LocalObjectReference; 2 optional b!
SecretEnvSource 1 - LocalObjectReference; 2 optional b!
EnvVar 1 name s!; 2 value s; 3 valueFrom EnvVarSource
EnvVarSource 1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector;
    3 configMapKeyRef ConfigMapKeySelector; 4 secretKeyRef SecretKeySelector
ConfigMapKeySelector 1 - LocalObjectReference; 2 key s!; 3 optional b!
SecretKeySelector 1 - LocalObjectReference; 2 key s!; 3 optional b!
ResourceRequirements 1 limits {q}; 2 requests {q}; 3 claims *ResourceClaim
ResourceClaim 1 name s!; 2 request s
ContainerResizePolicy 1 resourceName s!; 2 restartPolicy s!
VolumeMount 1 name s!; 2 readOnly b; 7 recursiveReadOnly s!; 3 mountPath s!; 4 subPath s;
    5 mountPropagation s!; 6 subPathExpr s
VolumeDevice 1 name s!; 2 devicePath s!
Probe 1 - ProbeHandler; 2 initialDelaySeconds i; 3 timeoutSeconds i; 4 periodSeconds i;
    5 successThreshold i; 6 failureThreshold i; 7 terminationGracePeriodSeconds l!
ProbeHandler 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 grpc GRPCAction
ExecAction 1 command *s
HTTPGetAction 1 path s; 2 port x; 3 host s; 4 scheme s; 5 httpHeaders *HTTPHeader
HTTPHeader 1 name s!; 2 value s!
TCPSocketAction 1 port x; 2 host s
GRPCAction 1 port i!; 2 service s!
Lifecycle 1 postStart LifecycleHandler; 2 preStop LifecycleHandler
LifecycleHandler 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 sleep SleepAction
SleepAction 1 seconds l!
SecurityContext 1 capabilities Capabilities; 2 privileged b!; 3 seLinuxOptions SELinuxOptions;
    10 windowsOptions WindowsSecurityContextOptions; 4 runAsUser l!; 8 runAsGroup l!;
    5 runAsNonRoot b!; 6 readOnlyRootFilesystem b!; 7 allowPrivilegeEscalation b!;
    9 procMount s!; 11 seccompProfile SeccompProfile; 12 appArmorProfile AppArmorProfile
Capabilities 1 add *s; 2 drop *s
SELinuxOptions 1 user s; 2 role s; 3 type s; 4 level s
WindowsSecurityContextOptions 1 gmsaCredentialSpecName s!; 2 gmsaCredentialSpec s!;
    3 runAsUserName s!; 4 hostProcess b!
SeccompProfile 1 type s!; 2 localhostProfile s!
AppArmorProfile 1 type s!; 2 localhostProfile s!
EphemeralContainer 1 - EphemeralContainerCommon; 2 targetContainerName s
EphemeralContainerCommon 1 name s!; 2 image s; 3 command *s; 4 args *s; 5 workingDir s;
    6 ports *ContainerPort; 19 envFrom *EnvFromSource; 7 env *EnvVar;
    8 resources ResourceRequirements; 23 resizePolicy *ContainerResizePolicy;
    24 restartPolicy s!; 9 volumeMounts *VolumeMount; 21 volumeDevices *VolumeDevice;
    10 livenessProbe Probe; 11 readinessProbe Probe; 22 startupProbe Probe;
    12 lifecycle Lifecycle; 13 terminationMessagePath s; 20 terminationMessagePolicy s;
    14 imagePullPolicy s; 15 securityContext SecurityContext; 16 stdin b; 17 stdinOnce b;
    18 tty b
PodSecurityContext 1 seLinuxOptions SELinuxOptions;
    8 windowsOptions WindowsSecurityContextOptions; 2 runAsUser l!; 6 runAsGroup l!;
    3 runAsNonRoot b!; 4 supplementalGroups *l; 12 supplementalGroupsPolicy s!; 5 fsGroup l!;
    7 sysctls *Sysctl; 9 fsGroupChangePolicy s!; 10 seccompProfile SeccompProfile;
    11 appArmorProfile AppArmorProfile; 13 seLinuxChangePolicy s!
Sysctl 1 name s!; 2 value s!
Affinity 1 nodeAffinity NodeAffinity; 2 podAffinity PodAffinity;
    3 podAntiAffinity PodAntiAffinity
NodeAffinity 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector;
    2 preferredDuringSchedulingIgnoredDuringExecution *PreferredSchedulingTerm
NodeSelector 1 nodeSelectorTerms *NodeSelectorTerm
NodeSelectorTerm 1 matchExpressions *NodeSelectorRequirement;
    2 matchFields *NodeSelectorRequirement
NodeSelectorRequirement 1 key s!; 2 operator s!; 3 values *s
PreferredSchedulingTerm 1 weight i!; 2 preference NodeSelectorTerm
PodAffinity 1 requiredDuringSchedulingIgnoredDuringExecution *PodAffinityTerm;
    2 preferredDuringSchedulingIgnoredDuringExecution *WeightedPodAffinityTerm
PodAffinityTerm 1 labelSelector LabelSelector; 2 namespaces *s; 3 topologyKey s!;
    4 namespaceSelector LabelSelector; 5 matchLabelKeys *s; 6 mismatchLabelKeys *s
WeightedPodAffinityTerm 1 weight i!; 2 podAffinityTerm PodAffinityTerm
PodAntiAffinity 1 requiredDuringSchedulingIgnoredDuringExecution *PodAffinityTerm;
    2 preferredDuringSchedulingIgnoredDuringExecution *WeightedPodAffinityTerm
Toleration 1 key s; 2 operator s; 3 value s; 4 effect s; 5 tolerationSeconds l!
HostAlias 1 ip s!; 2 hostnames *s
PodDNSConfig 1 nameservers *s; 2 searches *s; 3 options *PodDNSConfigOption
PodDNSConfigOption 1 name s; 2 value s!
PodReadinessGate 1 conditionType s!
TopologySpreadConstraint 1 maxSkew i!; 2 topologyKey s!; 3 whenUnsatisfiable s!;
    4 labelSelector LabelSelector; 5 minDomains i!; 6 nodeAffinityPolicy s!;
    7 nodeTaintsPolicy s!; 8 matchLabelKeys *s
PodOS 1 name s!
PodSchedulingGate 1 name s!
PodResourceClaim 1 name s!; 3 resourceClaimName s!; 4 resourceClaimTemplateName s!
PodStatus 1 phase s; 2 conditions *PodCondition; 3 message s; 4 reason s; 11 nominatedNodeName s;
    5 hostIP s; 16 hostIPs *HostIP; 6 podIP s; 12 podIPs *PodIP; 7 startTime t;
    10 initContainerStatuses *ContainerStatus; 8 containerStatuses *ContainerStatus;
    9 qosClass s; 13 ephemeralContainerStatuses *ContainerStatus; 14 resize s;
    15 resourceClaimStatuses *PodResourceClaimStatus
PodCondition 1 type s!; 2 status s!; 3 lastProbeTime t; 4 lastTransitionTime t; 5 reason s;
    6 message s
HostIP 1 ip s!
PodIP 1 ip s!
ContainerStatus 1 name s!; 2 state ContainerState; 3 lastState ContainerState; 4 ready b!;
    5 restartCount i!; 6 image s!; 7 imageID s!; 8 containerID s; 9 started b!;
    10 allocatedResources {q}; 11 resources ResourceRequirements;
    12 volumeMounts *VolumeMountStatus; 13 user ContainerUser;
    14 allocatedResourcesStatus *ResourceStatus
ContainerState 1 waiting ContainerStateWaiting; 2 running ContainerStateRunning;
    3 terminated ContainerStateTerminated
ContainerStateWaiting 1 reason s; 2 message s
ContainerStateRunning 1 startedAt t
ContainerStateTerminated 1 exitCode i!; 2 signal i; 3 reason s; 4 message s; 5 startedAt t;
    6 finishedAt t; 7 containerID s
VolumeMountStatus 1 name s!; 2 mountPath s!; 3 readOnly b; 4 recursiveReadOnly s!
ContainerUser 1 linux LinuxContainerUser
LinuxContainerUser 1 uid l!; 2 gid l!; 3 supplementalGroups *l
ResourceStatus 1 name s!; 2 resources *ResourceHealth
ResourceHealth 1 resourceID s!; 2 health s
PodResourceClaimStatus 1 name s!; 2 resourceClaimName s!
";
