//! Which pod a StatefulSet touches next, as upstream's `updateStatefulSet` decides it, kept
//! free of I/O so the order can be checked on its own: surplus pods go from the highest
//! ordinal down (under OrderedReady one at a time, each only after the one before is gone
//! and only while the others are healthy), and a rolling update replaces the outdated pods
//! at or above the partition from the highest ordinal down, at most `maxUnavailable` of them
//! down at once (one by default, waiting for each to be Ready again).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What the plan needs to know of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its ordinal.
    pub ordinal: i32,
    /// Whether it runs the update revision.
    pub updated: bool,
    /// Running, Ready (and available after `minReadySeconds`), and not being deleted.
    pub healthy: bool,
    /// Being deleted.
    pub terminating: bool,
}

/// The surplus pods (ordinals out of range, any order) to delete now. Under OrderedReady
/// (`monotonic`) at most one: the highest, unless a higher one is still terminating, or it
/// is unhealthy while another pod is the first unhealthy one (`first_unhealthy`, upstream's
/// rule that a broken set is scaled down only from its first broken pod).
pub fn condemned_to_delete(
    condemned: &[Member],
    monotonic: bool,
    first_unhealthy: Option<i32>,
) -> Vec<i32> {
    let mut by_ordinal: Vec<&Member> = condemned.iter().collect();
    by_ordinal.sort_by_key(|m| std::cmp::Reverse(m.ordinal));
    let mut out = Vec::new();
    for m in by_ordinal {
        if m.terminating {
            if monotonic {
                break;
            }
            continue;
        }
        if monotonic && !m.healthy && first_unhealthy != Some(m.ordinal) {
            break;
        }
        out.push(m.ordinal);
        if monotonic {
            break;
        }
    }
    out
}

/// The pods a RollingUpdate deletes now so they come back at the update revision: outdated
/// pods with `ordinal >= partition`, highest first, while fewer than `max_unavailable` of
/// those pods are down. `targets` are the pods in range (missing ones as unhealthy,
/// terminating members). An outdated pod that is already down is replaced first, as it
/// costs no availability.
pub fn rolling_update_victims(
    targets: &[Member],
    partition: i32,
    max_unavailable: usize,
) -> Vec<i32> {
    let mut by_ordinal: Vec<&Member> = targets.iter().filter(|m| m.ordinal >= partition).collect();
    by_ordinal.sort_by_key(|m| std::cmp::Reverse(m.ordinal));
    let max_unavailable = max_unavailable.max(1);
    let mut down = by_ordinal.iter().filter(|m| !m.healthy).count();
    let mut out = Vec::new();
    for m in by_ordinal {
        if m.updated || m.terminating {
            // Upstream waits for an updated pod to become healthy before going lower.
            if !m.healthy && down >= max_unavailable {
                break;
            }
            continue;
        }
        if m.healthy {
            if down >= max_unavailable {
                break;
            }
            down += 1;
        }
        out.push(m.ordinal);
    }
    out
}

/// `maxUnavailable` as a pod count: a number, or a percentage of `replicas` rounded down;
/// at least 1 (upstream's `getStatefulSetMaxUnavailable`).
pub fn max_unavailable(v: Option<&IntOrString>, replicas: i32) -> usize {
    let n = match v {
        None => 1,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(1, |p| p.saturating_mul(i64::from(replicas)) / 100),
    };
    usize::try_from(n.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ordinal: i32, updated: bool, healthy: bool, terminating: bool) -> Member {
        Member {
            ordinal,
            updated,
            healthy,
            terminating,
        }
    }

    #[test]
    fn ordered_scale_down_removes_the_highest_pod_one_at_a_time() {
        let c = [m(3, true, true, false), m(4, true, true, false)];
        assert_eq!(condemned_to_delete(&c, true, None), [4]);
        assert_eq!(condemned_to_delete(&c, false, None), [4, 3]);
        // The highest is still going: wait for it.
        let c = [m(3, true, true, false), m(4, true, false, true)];
        assert_eq!(condemned_to_delete(&c, true, Some(4)), Vec::<i32>::new());
        assert_eq!(condemned_to_delete(&c, false, Some(4)), [3]);
        // An unhealthy pod is removed only when it is the first unhealthy one.
        let c = [m(3, true, false, false)];
        assert_eq!(condemned_to_delete(&c, true, Some(1)), Vec::<i32>::new());
        assert_eq!(condemned_to_delete(&c, true, Some(3)), [3]);
    }

    #[test]
    fn a_rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let all_old = [
            m(0, false, true, false),
            m(1, false, true, false),
            m(2, false, true, false),
        ];
        assert_eq!(rolling_update_victims(&all_old, 0, 1), [2]);
        assert_eq!(rolling_update_victims(&all_old, 0, 2), [2, 1]);
        assert_eq!(rolling_update_victims(&all_old, 2, 1), [2]);
        assert_eq!(rolling_update_victims(&all_old, 3, 1), Vec::<i32>::new());
        // 2 is updated and coming up: wait for it before touching 1.
        let rolling = [
            m(0, false, true, false),
            m(1, false, true, false),
            m(2, true, false, false),
        ];
        assert_eq!(rolling_update_victims(&rolling, 0, 1), Vec::<i32>::new());
        assert_eq!(rolling_update_victims(&rolling, 0, 2), [1]);
        // 2 is updated and Ready: 1 is next.
        let next = [
            m(0, false, true, false),
            m(1, false, true, false),
            m(2, true, true, false),
        ];
        assert_eq!(rolling_update_victims(&next, 0, 1), [1]);
        // Below the partition nothing changes.
        assert_eq!(rolling_update_victims(&next, 2, 1), Vec::<i32>::new());
    }

    #[test]
    fn an_outdated_broken_pod_is_replaced_without_waiting() {
        let broken = [m(0, false, true, false), m(1, false, false, false)];
        assert_eq!(rolling_update_victims(&broken, 0, 1), [1]);
        let terminating = [m(0, false, true, false), m(1, false, false, true)];
        assert_eq!(
            rolling_update_victims(&terminating, 0, 1),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn max_unavailable_is_a_count_or_a_share_of_replicas_and_at_least_one() {
        assert_eq!(max_unavailable(None, 5), 1);
        assert_eq!(max_unavailable(Some(&IntOrString::Int(3)), 5), 3);
        assert_eq!(max_unavailable(Some(&IntOrString::Int(0)), 5), 1);
        assert_eq!(
            max_unavailable(Some(&IntOrString::String("50%".into())), 5),
            2
        );
        assert_eq!(
            max_unavailable(Some(&IntOrString::String("10%".into())), 5),
            1
        );
        assert_eq!(
            max_unavailable(Some(&IntOrString::String("x".into())), 5),
            1
        );
    }
}
