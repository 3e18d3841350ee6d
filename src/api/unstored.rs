//! Kinds the API serves without storing them: the reviews, created to ask a question and
//! answered at once, and the resource metrics of `metrics.k8s.io`, read from the kubelets.
//! Discovery lists them beside the stored kinds.

use super::metrics_api::METRICS_KINDS;
use super::reviews::REVIEWS;

/// A kind served without being stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnstoredKind {
    /// API group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Plural resource.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether it lives in a namespace.
    pub namespaced: bool,
    /// The verbs served, as discovery lists them.
    pub verbs: &'static [&'static str],
}

/// Every kind served without being stored.
pub fn all() -> impl Iterator<Item = &'static UnstoredKind> {
    REVIEWS.iter().chain(METRICS_KINDS.iter())
}
