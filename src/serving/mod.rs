//! What Bramble's two HTTPS servers share, the API server and a board's kubelet port:
//! connection hygiene for every accepted connection ([`listener`]) and the response bodies
//! both answer with ([`body`]).

pub mod body;
pub mod listener;
