//! The HTTP surface: Kubernetes REST paths over TLS.

pub mod admission;
pub mod auth;
pub mod body;
pub mod discovery;
pub mod handlers;
pub mod kubelet_client;
pub mod kubelet_wire;
pub mod listener;
pub mod negotiate;
pub mod nesting;
pub mod node_certificates;
pub mod openapi;
pub mod patch;
pub mod pod_connect;
pub mod pod_exec;
pub mod pod_log;
pub mod pod_streams;
pub mod protobuf;
pub mod registry;
pub mod remotecommand;
pub mod request_info;
pub mod request_limits;
pub mod selector;
pub mod server;
pub mod status;
pub mod table;
