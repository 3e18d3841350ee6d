//! The HTTP surface: Kubernetes REST paths over TLS.

pub mod admission;
pub mod auth;
pub mod body;
pub mod discovery;
pub mod handlers;
pub mod join;
pub mod negotiate;
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
pub mod selector;
pub mod server;
pub mod status;
pub mod table;
