//! What Bramble's two HTTPS servers share, the API server and a board's kubelet port:
//! connection hygiene for every accepted connection ([`listener`]) and the response bodies
//! both answer with ([`body`]), the text format of their `/metrics` ([`prometheus`]) and the
//! process figures in it ([`process_metrics`]).

pub mod body;
pub mod listener;
pub mod process_metrics;
pub mod prometheus;
