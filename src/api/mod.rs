//! The HTTP surface: Kubernetes REST paths over TLS.

pub mod admission;
pub mod auth;
pub mod discovery;
pub mod field_manager;
pub mod handlers;
pub mod kubelet_client;
pub mod metrics_api;
pub mod negotiate;
pub mod nesting;
pub mod node_certificates;
pub mod node_proxy;
pub mod openapi;
pub mod patch;
pub mod pod_connect;
pub mod pod_exec;
pub mod pod_log;
pub mod pod_port_forward;
pub mod port_forward_connection;
pub mod port_forward_relay;
#[cfg(test)]
mod port_forward_relay_tests;
pub mod protobuf;
pub mod registry;
pub mod remotecommand;
pub mod request_body;
pub mod request_info;
pub mod request_limits;
pub mod request_metrics;
pub mod reviews;
pub mod served_version;
pub mod server;
pub mod server_metrics;
pub mod stored_json;
pub mod table;
pub mod type_meta;
pub mod unstored;

// The vocabulary and plumbing the API server shares with the components and the kubelet's
// port, under the names the API's own modules use.
pub use crate::client::status;
pub use crate::pod_streams;
pub use crate::pod_streams::wire as kubelet_wire;
pub use crate::resources::selector;
pub use crate::serving::{body, listener};
