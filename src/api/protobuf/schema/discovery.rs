//! Protobuf tables for discovery.k8s.io/v1 `EndpointSlice`. Field numbers and JSON names are
//! those of Kubernetes v1.32; see `schema` for the notation. The slice's `EndpointPort` is
//! named `SliceEndpointPort` here, apart from core/v1's.

/// Messages of `k8s.io/api/discovery/v1/generated.proto`.
pub const TABLE: &str = "
EndpointSlice 1 metadata ObjectMeta; 4 addressType s!; 2 endpoints *Endpoint;
    3 ports *SliceEndpointPort
Endpoint 1 addresses *s; 2 conditions EndpointConditions; 3 hostname s!;
    4 targetRef ObjectReference; 5 deprecatedTopology {s}; 6 nodeName s!; 7 zone s!;
    8 hints EndpointHints
EndpointConditions 1 ready b!; 2 serving b!; 3 terminating b!
EndpointHints 1 forZones *ForZone
ForZone 1 name s!
SliceEndpointPort 1 name s!; 2 protocol s!; 3 port i!; 4 appProtocol s!
";
