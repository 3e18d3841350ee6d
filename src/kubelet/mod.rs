//! The kubelet: runs the pods bound to this node from OCI images on an OCI runtime.

pub mod container_spec;
pub mod image;
pub mod lease;
pub mod logs;
pub mod machine;
pub mod network;
pub mod node_status;
pub mod runtime;
pub mod volume;
