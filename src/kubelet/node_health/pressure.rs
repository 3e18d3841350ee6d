//! The `MemoryPressure`, `DiskPressure` and `PIDPressure` conditions as upstream's eviction
//! manager keeps them: a condition is True while a threshold of its signals is met, and
//! stays True until none has been met for the pressure transition period
//! (`--eviction-pressure-transition-period`, 5 minutes by default), so a node hovering at a
//! threshold does not flap (`nodeConditionsLastObservedAt`, `nodeConditionsObservedSince`).
//! Reasons and messages are upstream's (`pkg/kubelet/nodestatus/setters.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::thresholds::{Pressure, Threshold};
use super::ConditionState;

/// Upstream's default `--eviction-pressure-transition-period`.
pub const DEFAULT_TRANSITION_PERIOD: Duration = Duration::from_secs(5 * 60);

/// When each pressure was last observed.
#[derive(Debug, Clone)]
pub struct PressureTracker {
    period: Duration,
    last_observed: BTreeMap<Pressure, Instant>,
}

impl PressureTracker {
    /// A tracker holding conditions for `period` after their last observation.
    pub fn new(period: Duration) -> Self {
        PressureTracker {
            period,
            last_observed: BTreeMap::new(),
        }
    }

    /// Records the thresholds met at `now`; answers the pressures to report True.
    pub fn update(&mut self, met: &[Threshold], now: Instant) -> BTreeSet<Pressure> {
        for t in met {
            self.last_observed.insert(t.signal.pressure(), now);
        }
        let period = self.period;
        self.last_observed
            .retain(|_, at| now.saturating_duration_since(*at) < period);
        self.last_observed.keys().copied().collect()
    }
}

impl Pressure {
    /// Every pressure condition, in the order the Node lists them.
    pub const ALL: [Pressure; 3] = [Pressure::Memory, Pressure::Disk, Pressure::Pid];

    /// The condition type.
    pub fn condition_type(self) -> &'static str {
        match self {
            Pressure::Memory => "MemoryPressure",
            Pressure::Disk => "DiskPressure",
            Pressure::Pid => "PIDPressure",
        }
    }

    /// The condition as upstream's kubelet words it.
    pub fn condition(self, active: bool) -> ConditionState {
        let (reason, message) = match (self, active) {
            (Pressure::Memory, false) => (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            (Pressure::Memory, true) => (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            (Pressure::Disk, false) => ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (Pressure::Disk, true) => ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            (Pressure::Pid, false) => (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (Pressure::Pid, true) => (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
        };
        ConditionState {
            type_: self.condition_type(),
            active,
            reason,
            message: message.to_string(),
        }
    }

    /// The reason of the Node event upstream records when the condition changes.
    pub fn event_reason(self, active: bool) -> &'static str {
        match (self, active) {
            (Pressure::Memory, false) => "NodeHasSufficientMemory",
            (Pressure::Memory, true) => "NodeHasInsufficientMemory",
            (Pressure::Disk, false) => "NodeHasNoDiskPressure",
            (Pressure::Disk, true) => "NodeHasDiskPressure",
            (Pressure::Pid, false) => "NodeHasSufficientPID",
            (Pressure::Pid, true) => "NodeHasInsufficientPID",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::node_health::thresholds::parse_eviction_hard;

    #[test]
    fn pressure_holds_for_the_transition_period_after_the_last_crossing() {
        let t =
            parse_eviction_hard("memory.available<100Mi,nodefs.available<10%,pid.available<100")
                .unwrap();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut p = PressureTracker::new(Duration::from_secs(300));
        assert!(p.update(&[], at(0)).is_empty());
        // memory crosses at 10 s and again at 100 s
        assert_eq!(
            p.update(&t[..1], at(10)),
            BTreeSet::from([Pressure::Memory])
        );
        assert_eq!(p.update(&[], at(60)), BTreeSet::from([Pressure::Memory]));
        assert_eq!(
            p.update(&t[..2], at(100)),
            BTreeSet::from([Pressure::Memory, Pressure::Disk])
        );
        // 5 minutes after the last crossing, not before
        assert_eq!(
            p.update(&[], at(399)),
            BTreeSet::from([Pressure::Memory, Pressure::Disk])
        );
        assert!(p.update(&[], at(400)).is_empty());
        assert_eq!(p.update(&t[2..], at(401)), BTreeSet::from([Pressure::Pid]));
        // upstream compares strictly: with a zero period nothing is ever reported
        let mut z = PressureTracker::new(Duration::ZERO);
        assert!(z.update(&t[..1], at(0)).is_empty());
    }

    #[test]
    fn conditions_use_upstreams_words() {
        let c = Pressure::Memory.condition(true);
        assert_eq!(c.type_, "MemoryPressure");
        assert_eq!(c.reason, "KubeletHasInsufficientMemory");
        assert_eq!(
            Pressure::Disk.condition(false).message,
            "kubelet has no disk pressure"
        );
        assert_eq!(
            Pressure::Pid.condition(false).reason,
            "KubeletHasSufficientPID"
        );
        assert_eq!(Pressure::Pid.event_reason(true), "NodeHasInsufficientPID");
    }
}
