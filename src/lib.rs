//! Bramble: a Kubernetes-compatible cluster in one binary.
//!
//! `bramble server` runs the API server, its store, the scheduler, the controllers and a
//! kubelet in one process; `bramble agent` joins another board to it. See `ARCHITECTURE.md`
//! for the map.
#![deny(missing_docs)]

pub mod agent;
pub mod api;
pub mod cidr;
pub mod cli;
pub mod client;
pub mod control_plane;
pub mod controllers;
pub mod dns;
pub mod hardware;
pub mod host_path_policy;
pub mod kubelet;
pub mod monitor;
pub mod netfilter;
pub mod pki;
pub mod pod_streams;
pub mod proxy;
pub mod resolv_conf;
pub mod resources;
pub mod scheduler;
pub mod serving;
pub mod spdy;
pub mod store;
pub mod tunnel;
