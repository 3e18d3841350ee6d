//! The HTTP surface: Kubernetes REST paths over TLS.

pub mod auth;
pub mod patch;
pub mod selector;
