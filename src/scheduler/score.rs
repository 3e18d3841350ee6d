//! Ranking the nodes a pod fits on: each plugin scores every feasible node, scores are
//! normalised to 0..=100 as upstream's `DefaultNormalizeScore` does, weighted with upstream's
//! default plugin weights and summed; the highest total wins.
//!
//! Upstream breaks ties at random; here the node name decides (the smallest wins), so the
//! same cluster state always gives the same placement.

use k8s_openapi::api::core::v1::Pod;

use super::node_resources::{least_allocated_score, MAX_NODE_SCORE};
use super::{node_affinity, taints, NodeInfo};

/// Upstream's default weight of the TaintToleration score.
const TAINT_TOLERATION_WEIGHT: i64 = 3;
/// Upstream's default weight of the NodeAffinity score.
const NODE_AFFINITY_WEIGHT: i64 = 2;
/// Upstream's default weight of the NodeResourcesFit score.
const NODE_RESOURCES_FIT_WEIGHT: i64 = 1;

/// Scales raw scores so the best is 100 (`reverse`: so the lowest raw score gets 100); all
/// zeros stay zero, or all become 100 when reversed.
fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

/// The weighted total of every node in `feasible`, in the same order.
pub(crate) fn total_scores(pod: &Pod, feasible: &[&NodeInfo<'_>]) -> Vec<i64> {
    let mut affinity: Vec<i64> = feasible
        .iter()
        .map(|n| node_affinity::preferred_score(pod, n.node))
        .collect();
    normalize(&mut affinity, false);
    let mut taint: Vec<i64> = feasible
        .iter()
        .map(|n| taints::intolerable_prefer_no_schedule(pod, n.node))
        .collect();
    normalize(&mut taint, true);
    feasible
        .iter()
        .zip(affinity.iter().zip(&taint))
        .map(|(n, (a, t))| {
            NODE_RESOURCES_FIT_WEIGHT * least_allocated_score(pod, n)
                + NODE_AFFINITY_WEIGHT * a
                + TAINT_TOLERATION_WEIGHT * t
        })
        .collect()
}

/// Picks the node with the highest total, the smallest name among equals.
pub(crate) fn select_host(pod: &Pod, feasible: &[&NodeInfo<'_>]) -> Option<String> {
    let scores = total_scores(pod, feasible);
    feasible
        .iter()
        .zip(scores)
        .map(|(n, s)| (s, n.node.metadata.name.as_deref().unwrap_or("")))
        .max_by(|(sa, na), (sb, nb)| sa.cmp(sb).then_with(|| nb.cmp(na)))
        .map(|(_, name)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_like_upstream() {
        let mut s = vec![0, 5, 10];
        normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut t = vec![0, 1, 2];
        normalize(&mut t, true);
        assert_eq!(t, [100, 50, 0]);
        let mut z = vec![0, 0];
        normalize(&mut z, true);
        assert_eq!(z, [100, 100]);
    }
}
