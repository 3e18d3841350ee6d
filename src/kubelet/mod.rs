//! The kubelet: runs the pods bound to this node from OCI images on an OCI runtime.

pub mod backoff;
pub mod image;
pub mod lease;
pub mod logs;
pub mod machine;
pub mod network;
pub mod node_status;
pub mod pod_status;
pub mod probe;
pub mod runtime;
pub mod volume;
