//! Bramble: a Kubernetes-compatible cluster in one binary.
//!
//! `bramble server` runs the API server, its store, the scheduler and the controllers in one
//! process; see `ARCHITECTURE.md` for the map.
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod client;
pub mod control_plane;
pub mod controllers;
pub mod host_path_policy;
pub mod kubelet;
pub mod pki;
pub mod resources;
pub mod scheduler;
pub mod store;
