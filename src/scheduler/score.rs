//! Ranking the nodes a pod fits on: each plugin scores every feasible node, scores are
//! normalised to 0..=100 as upstream's `DefaultNormalizeScore` does, weighted with upstream's
//! default plugin weights and summed; the highest total wins.
//!
//! Ties are broken at random, as upstream's `selectHost` does (reservoir sampling over the
//! best-scored nodes): equal nodes then share a burst of equal pods instead of the first
//! one by name taking them all until its score drops.

use k8s_openapi::api::core::v1::Pod;

use rand::Rng;

use super::node_resources::{least_allocated_score, scoring_request, MAX_NODE_SCORE};
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
        .map(|n| taints::intolerable_prefer_no_schedule(pod, &n.taints))
        .collect();
    normalize(&mut taint, true);
    let want = scoring_request(pod);
    feasible
        .iter()
        .zip(affinity.iter().zip(&taint))
        .map(|(n, (a, t))| {
            NODE_RESOURCES_FIT_WEIGHT * least_allocated_score(&want, n)
                + NODE_AFFINITY_WEIGHT * a
                + TAINT_TOLERATION_WEIGHT * t
        })
        .collect()
}

/// Picks the node with the highest total, one of the equals at random.
pub(crate) fn select_host(pod: &Pod, feasible: &[&NodeInfo<'_>]) -> Option<String> {
    let scores = total_scores(pod, feasible);
    pick_best(&scores, &mut rand::rng())
        .and_then(|i| feasible.get(i))
        .map(|n| n.node.metadata.name.clone().unwrap_or_default())
}

/// The index of a highest score, each of the tied ones equally likely: the k-th tie seen
/// replaces the choice with probability 1/k.
fn pick_best(scores: &[i64], rng: &mut impl Rng) -> Option<usize> {
    let mut best: Option<(i64, usize)> = None;
    let mut ties = 0u32;
    for (i, &score) in scores.iter().enumerate() {
        match best {
            Some((top, _)) if score < top => {}
            Some((top, _)) if score == top => {
                ties = ties.saturating_add(1);
                if rng.random_range(0..ties) == 0 {
                    best = Some((score, i));
                }
            }
            _ => {
                best = Some((score, i));
                ties = 1;
            }
        }
    }
    best.map(|(_, i)| i)
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

    #[test]
    fn ties_are_shared_and_the_best_always_wins() {
        let mut rng = rand::rng();
        assert_eq!(pick_best(&[], &mut rng), None);
        assert_eq!(pick_best(&[1, 7, 3], &mut rng), Some(1));
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let i = pick_best(&[5, 5, 2, 5], &mut rng).unwrap();
            assert_ne!(i, 2);
            seen[i.min(2)] += 1;
        }
        // Each of the three tied nodes wins about a third of the time.
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}
