//! Static pods: pods defined by manifest files on the board itself (`--pod-manifest-path`,
//! upstream's `staticPodPath`), run with or without a server, shown as mirror pods when one
//! is reachable. [`manifest`] turns a file into pods named for this node, [`source`] rescans
//! the directory, and [`mirror`] decides which mirror pods the API should hold.

pub mod manifest;
pub mod mirror;
pub mod source;

/// Where a pod came from (`file` for a static pod).
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// The static pod's hash (its uid).
pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// When this kubelet first saw the manifest.
pub const SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";
/// On a mirror pod: the hash of the static pod it shows.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

#[cfg(test)]
mod tests;
