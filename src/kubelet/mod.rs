//! The kubelet: runs the pods bound to this node from OCI images on an OCI runtime.

pub mod image;
pub mod network;
pub mod runtime;
pub mod volume;
