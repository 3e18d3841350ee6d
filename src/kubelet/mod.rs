//! The kubelet: runs the pods bound to this node from OCI images on an OCI runtime.

pub mod agent;
pub mod backoff;
pub mod container_spec;
pub mod container_start;
pub mod image;
pub mod image_gc;
pub mod lease;
pub mod logs;
pub mod machine;
pub mod network;
pub mod node_routes;
pub mod node_status;
pub mod pod_status;
pub mod pod_worker;
pub mod probe;
pub mod prober;
pub mod registration;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod storage;
pub mod streams;
pub mod sysctl;
pub mod teardown;
pub mod volume;
