//! One housekeeping pass over a set of readings, without I/O: which thresholds are met,
//! the conditions to report, and which threshold to reclaim now (memory before anything
//! else, as upstream's `byEvictionPriority`).

use std::time::Instant;

use super::board::{Power, Thermal};
use super::pressure::PressureTracker;
use super::signals::{Observation, Observations};
use super::storage_health::{self, StorageFacts};
use super::thresholds::{thresholds_met, Pressure, Signal, Threshold};
use super::{ConditionState, NodeHealthConfig};

/// Everything read in one pass.
#[derive(Debug, Clone, Default)]
pub(super) struct Readings {
    /// The eviction signals.
    pub observations: Observations,
    /// SoC temperature in millidegrees.
    pub millicelsius: Option<i64>,
    /// The firmware's `get_throttled` bits.
    pub throttled: Option<u32>,
    /// Storage health facts.
    pub storage: StorageFacts,
}

/// What a pass decided.
#[derive(Debug, Clone)]
pub(super) struct Assessment {
    /// The node conditions to report.
    pub conditions: Vec<ConditionState>,
    /// The threshold to reclaim now and its signal's reading.
    pub reclaim: Option<(Threshold, Observation)>,
}

/// The state carried from pass to pass.
#[derive(Debug)]
pub(super) struct Assessor {
    thresholds: Vec<Threshold>,
    pressure: PressureTracker,
    thermal: Thermal,
    power: Power,
    storage: Option<ConditionState>,
}

impl Assessor {
    pub fn new(cfg: &NodeHealthConfig) -> Self {
        Assessor {
            thresholds: cfg.eviction_hard.clone(),
            pressure: PressureTracker::new(cfg.pressure_transition_period),
            thermal: Thermal::default(),
            power: Power::default(),
            storage: None,
        }
    }

    pub fn assess(&mut self, r: &Readings, now: Instant) -> Assessment {
        let met = thresholds_met(&self.thresholds, &r.observations);
        let pressures = self.pressure.update(&met, now);
        let mut conditions: Vec<ConditionState> = Pressure::ALL
            .iter()
            .map(|p| p.condition(pressures.contains(p)))
            .collect();
        conditions.extend(self.thermal.update(r.millicelsius, r.throttled));
        conditions.extend(self.power.update(r.throttled, now));
        if let Some(s) = storage_health::storage_condition(&r.storage) {
            self.storage = Some(s);
        }
        conditions.extend(self.storage.clone());
        let reclaim = met
            .iter()
            .find(|t| t.signal == Signal::MemoryAvailable)
            .or_else(|| met.first())
            .and_then(|t| Some((*t, r.observations.get(t.signal)?)));
        Assessment {
            conditions,
            reclaim,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::node_health::board;
    use crate::kubelet::node_health::thresholds::parse_eviction_hard;
    use std::time::Duration;

    fn state<'a>(a: &'a Assessment, kind: &str) -> Option<&'a ConditionState> {
        a.conditions.iter().find(|c| c.type_ == kind)
    }

    #[test]
    fn a_pass_reports_pressure_board_health_and_what_to_reclaim() {
        let cfg = NodeHealthConfig {
            eviction_hard: parse_eviction_hard("nodefs.available<10%,memory.available<100Mi")
                .unwrap(),
            pressure_transition_period: Duration::from_secs(60),
            ..NodeHealthConfig::default()
        };
        let mut a = Assessor::new(&cfg);
        let start = Instant::now();
        let mut r = Readings::default();
        let quiet = a.assess(&r, start);
        assert_eq!(
            quiet.conditions.len(),
            3,
            "no board readings: pressures only"
        );
        assert!(quiet.conditions.iter().all(|c| !c.active));
        assert!(quiet.reclaim.is_none());

        r.observations.nodefs = Some(Observation {
            available: 5,
            capacity: 100,
        });
        r.observations.memory = Some(Observation {
            available: 1 << 20,
            capacity: 1 << 30,
        });
        r.millicelsius = Some(85_000);
        r.throttled = Some(0);
        let hot = a.assess(&r, start + Duration::from_secs(10));
        assert!(state(&hot, "MemoryPressure").unwrap().active);
        assert!(state(&hot, "DiskPressure").unwrap().active);
        assert!(!state(&hot, "PIDPressure").unwrap().active);
        assert!(state(&hot, board::THERMAL).unwrap().active);
        assert!(!state(&hot, board::POWER).unwrap().active);
        let (t, o) = hot.reclaim.unwrap();
        assert_eq!(
            t.signal,
            Signal::MemoryAvailable,
            "memory is reclaimed first"
        );
        assert_eq!(o.available, 1 << 20);

        // recovered: eviction stops at once, the condition only after the period
        r.observations.memory = Some(Observation {
            available: 1 << 29,
            capacity: 1 << 30,
        });
        let after = a.assess(&r, start + Duration::from_secs(20));
        assert!(state(&after, "MemoryPressure").unwrap().active);
        assert_eq!(after.reclaim.unwrap().0.signal, Signal::NodeFsAvailable);
        r.observations.nodefs = Some(Observation {
            available: 50,
            capacity: 100,
        });
        r.millicelsius = None;
        let later = a.assess(&r, start + Duration::from_secs(71));
        assert!(!state(&later, "MemoryPressure").unwrap().active);
        assert!(state(&later, "DiskPressure").unwrap().active);
        assert!(later.reclaim.is_none());
        assert!(
            state(&later, board::THERMAL).unwrap().active,
            "no reading: unchanged"
        );
    }
}
