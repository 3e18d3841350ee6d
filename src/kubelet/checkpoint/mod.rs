//! The kubelet's local checkpoint of the pods bound to this node, so a board restarts them
//! while the server is unreachable: their spec and the metadata containers see, the
//! ConfigMaps, Secrets and service account tokens they start with, and the node's pod
//! network. One file under the kubelet's data directory, replaced atomically, written only
//! when that content changed and at most once per [`writer::MIN_INTERVAL`] (it counts
//! against an SD card's write budget); status and resource versions are never in it.

pub mod content;
pub mod file;
pub mod writer;

pub use content::{referenced_objects, Content, SavedToken};
pub use writer::Checkpoint;

#[cfg(test)]
mod tests;
