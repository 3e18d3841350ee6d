//! The arithmetic of a PodDisruptionBudget, as upstream's disruption controller
//! (`getExpectedPodCount`, `countHealthyPods`): how many healthy pods the budget wants from
//! `minAvailable` or `maxUnavailable` (an integer or a percentage of the expected pods,
//! rounded up) and how many disruptions that leaves.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why a budget's numbers cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// A percentage that does not parse.
    #[error("invalid value for IntOrString: invalid value {0:?}")]
    BadPercent(String),
}

/// An integer, or a percentage of `total` rounded up (upstream's
/// `GetScaledValueFromIntOrPercent` with `roundUp`).
pub fn scaled(v: &IntOrString, total: i32) -> Result<i32, BudgetError> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| BudgetError::BadPercent(s.clone()))?;
            let product = pct.saturating_mul(i64::from(total));
            let rounded = product.saturating_add(99).div_euclid(100);
            Ok(i32::try_from(rounded).unwrap_or(i32::MAX))
        }
    }
}

/// Whether the expected count must come from the pods' controllers: every form but an
/// integer `minAvailable` needs it.
pub fn needs_controllers(min_available: Option<&IntOrString>) -> bool {
    !matches!(min_available, Some(IntOrString::Int(_)))
}

/// The healthy pods wanted out of `expected`.
pub fn desired_healthy(
    min_available: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    expected: i32,
) -> Result<i32, BudgetError> {
    match (min_available, max_unavailable) {
        (Some(min), _) => scaled(min, expected),
        (None, Some(max)) => Ok(expected.saturating_sub(scaled(max, expected)?).max(0)),
        // Neither set: upstream's defaulting gives minAvailable 1.
        (None, None) => Ok(1),
    }
}

/// Disruptions the budget allows.
pub fn disruptions_allowed(current_healthy: i32, desired_healthy: i32) -> i32 {
    current_healthy.saturating_sub(desired_healthy).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&s("50%"), 3), Ok(2));
        assert_eq!(scaled(&s("34%"), 3), Ok(2));
        assert_eq!(scaled(&s("100%"), 7), Ok(7));
        assert_eq!(scaled(&s("0%"), 7), Ok(0));
        assert_eq!(scaled(&IntOrString::Int(4), 7), Ok(4));
        assert!(scaled(&s("half"), 7).is_err());
        assert!(scaled(&s("%"), 7).is_err());
    }

    #[test]
    fn desired_from_min_available_or_max_unavailable() {
        assert_eq!(desired_healthy(Some(&IntOrString::Int(1)), None, 2), Ok(1));
        assert_eq!(desired_healthy(Some(&s("50%")), None, 5), Ok(3));
        assert_eq!(desired_healthy(None, Some(&IntOrString::Int(1)), 3), Ok(2));
        // 25% of 3 is 0.75, rounded up to 1 unavailable pod.
        assert_eq!(desired_healthy(None, Some(&s("25%")), 3), Ok(2));
        assert_eq!(desired_healthy(None, Some(&IntOrString::Int(5)), 3), Ok(0));
    }

    #[test]
    fn allowed_never_negative() {
        assert_eq!(disruptions_allowed(1, 1), 0);
        assert_eq!(disruptions_allowed(2, 1), 1);
        assert_eq!(disruptions_allowed(0, 3), 0);
        assert!(needs_controllers(Some(&s("50%"))));
        assert!(needs_controllers(None));
        assert!(!needs_controllers(Some(&IntOrString::Int(2))));
    }
}
