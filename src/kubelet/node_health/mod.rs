//! The node's health, acted on as upstream's kubelet eviction manager and node status do:
//! eviction signals observed every ten seconds (`signals`), hard thresholds
//! (`--eviction-hard`, `thresholds`), the `MemoryPressure`, `DiskPressure` and `PIDPressure`
//! conditions with the pressure transition period (`pressure`), one pod evicted at a time
//! while a threshold is crossed, ranked as upstream ranks them (`ranking`, `evictor`); and
//! the board's own health — SoC temperature, the firmware's under-voltage and throttling
//! flags, storage wear — as the `bramble.io/Thermal`, `bramble.io/Power` and
//! `bramble.io/Storage` conditions (`board`, `storage_health`, read by `board_files`).
//!
//! [`NodeHealth`] is what the rest of the kubelet sees: the conditions the node status
//! reports, a wake-up when they change, and the evictions pod workers carry out.

mod assessment;
pub mod board;
mod board_files;
mod evictor;
mod health_loop;
pub mod pressure;
pub mod ranking;
pub mod signals;
pub mod storage_health;
pub mod thresholds;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Notify;

pub use health_loop::run;
use thresholds::Threshold;

/// Default thermal zone of the SoC on a Raspberry Pi.
pub const DEFAULT_THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0";
/// Where a Raspberry Pi's firmware publishes `get_throttled`.
pub const DEFAULT_THROTTLED: &str = "/sys/devices/platform/soc/soc:firmware/get_throttled";

/// One node condition as this module decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionState {
    /// Condition type (`MemoryPressure`, `bramble.io/Thermal`).
    pub type_: &'static str,
    /// True: a problem.
    pub active: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// What was measured, for people.
    pub message: String,
}

impl ConditionState {
    /// The condition as the Node's status carries it, both times `now`
    /// (`node_status::keep_transition_times` keeps the old transition time).
    pub fn to_json(&self, now: &str) -> Value {
        json!({
            "type": self.type_,
            "status": if self.active { "True" } else { "False" },
            "reason": self.reason,
            "message": self.message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        })
    }
}

/// The kubelet's health settings.
#[derive(Debug, Clone)]
pub struct NodeHealthConfig {
    /// Hard eviction thresholds (`--eviction-hard`).
    pub eviction_hard: Vec<Threshold>,
    /// How long a pressure condition stays after its threshold was last crossed.
    pub pressure_transition_period: Duration,
    /// The SoC's thermal zone directory (its `temp` file is read).
    pub thermal_zone: PathBuf,
    /// The firmware's `get_throttled` file.
    pub throttled: PathBuf,
}

impl Default for NodeHealthConfig {
    fn default() -> Self {
        NodeHealthConfig {
            // the default is a constant that parses; an empty list would only disable eviction
            eviction_hard: thresholds::parse_eviction_hard(thresholds::DEFAULT_EVICTION_HARD)
                .unwrap_or_default(),
            pressure_transition_period: pressure::DEFAULT_TRANSITION_PERIOD,
            thermal_zone: PathBuf::from(DEFAULT_THERMAL_ZONE),
            throttled: PathBuf::from(DEFAULT_THROTTLED),
        }
    }
}

/// How long a condition keeps its message while its status and reason stay: measured values
/// (a temperature, seconds since an under-voltage) change at every reading, and a Node
/// rewritten for each would wear the SD card; this is upstream's status report period.
pub const MESSAGE_REFRESH: Duration = Duration::from_secs(5 * 60);

/// `new` with the messages of `old` kept where a condition's status and reason did not
/// change and its message is younger than [`MESSAGE_REFRESH`]; each with when its message
/// was set.
fn settle_messages(
    old: &[(ConditionState, Instant)],
    new: Vec<ConditionState>,
    now: Instant,
) -> Vec<(ConditionState, Instant)> {
    new.into_iter()
        .map(|mut c| {
            let same = old
                .iter()
                .find(|(o, _)| o.type_ == c.type_ && o.active == c.active && o.reason == c.reason);
            match same {
                Some((o, set)) if now.saturating_duration_since(*set) < MESSAGE_REFRESH => {
                    c.message.clone_from(&o.message);
                    (c, *set)
                }
                _ => (c, now),
            }
        })
        .collect()
}

/// What the health task shares with the node status and the pod workers.
#[derive(Debug, Default)]
pub struct NodeHealth {
    /// The conditions, each with when its message was set.
    conditions: Mutex<Vec<(ConditionState, Instant)>>,
    changed: Notify,
    /// Pod uid → eviction message, until the pod's worker takes it.
    evictions: Mutex<HashMap<String, String>>,
}

impl NodeHealth {
    /// The conditions to report, as JSON with both times `now`.
    pub fn conditions_json(&self, now: &str) -> Vec<Value> {
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(c, _)| c.to_json(now))
            .collect()
    }

    /// Resolves when the conditions change.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Replaces the conditions (messages settled, see [`MESSAGE_REFRESH`]); wakes whoever
    /// waits in [`NodeHealth::changed`] if they differ.
    fn set_conditions(&self, new: Vec<ConditionState>, now: Instant) {
        let mut current = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let settled = settle_messages(&current, new, now);
        let differs = current.len() != settled.len()
            || current.iter().zip(&settled).any(|((a, _), (b, _))| a != b);
        *current = settled;
        if differs {
            self.changed.notify_one();
        }
    }

    /// Takes the eviction asked of pod `uid`, if any: the message its status carries.
    pub fn take_eviction(&self, uid: &str) -> Option<String> {
        self.evictions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid)
    }

    fn request_eviction(&self, uid: &str, message: String) {
        self.evictions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uid.to_string(), message);
    }

    fn eviction_pending(&self) -> bool {
        !self
            .evictions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// Sets `conditions` in a node status: each replaces the one of its type, others are added.
pub fn apply_conditions(status: &mut Value, conditions: Vec<Value>) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    for c in conditions {
        match list.iter_mut().find(|o| o["type"] == c["type"]) {
            Some(slot) => *slot = c,
            None => {
                // before Ready, so kubectl lists the health conditions with the pressures
                let at = list
                    .iter()
                    .position(|o| o["type"] == "Ready")
                    .unwrap_or(list.len());
                list.insert(at, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_replace_their_type_and_new_ones_go_before_ready() {
        let mut status = json!({"conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True"},
        ]});
        let health = NodeHealth::default();
        health.set_conditions(
            vec![
                thresholds::Pressure::Memory.condition(true),
                ConditionState {
                    type_: board::THERMAL,
                    active: true,
                    reason: "SoCTemperatureHigh",
                    message: "hot".into(),
                },
            ],
            Instant::now(),
        );
        apply_conditions(&mut status, health.conditions_json("2026-01-01T00:00:00Z"));
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["MemoryPressure", board::THERMAL, "Ready"]);
        assert_eq!(status["conditions"][0]["status"], "True");
        assert_eq!(
            status["conditions"][0]["reason"],
            "KubeletHasInsufficientMemory"
        );
        assert_eq!(
            status["conditions"][1]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn a_message_changes_with_the_status_or_after_the_refresh_period() {
        let thermal = |active: bool, message: &str| ConditionState {
            type_: board::THERMAL,
            active,
            reason: if active {
                "SoCTemperatureHigh"
            } else {
                "SoCTemperatureNormal"
            },
            message: message.into(),
        };
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let health = NodeHealth::default();
        let message = |h: &NodeHealth| h.conditions_json("t")[0]["message"].clone();
        health.set_conditions(vec![thermal(false, "SoC temperature 48.1 °C")], at(0));
        health.set_conditions(vec![thermal(false, "SoC temperature 48.6 °C")], at(10));
        assert_eq!(
            message(&health),
            "SoC temperature 48.1 °C",
            "same state: kept"
        );
        health.set_conditions(vec![thermal(true, "SoC temperature 85.0 °C")], at(20));
        assert_eq!(
            message(&health),
            "SoC temperature 85.0 °C",
            "a new state: new message"
        );
        health.set_conditions(vec![thermal(true, "SoC temperature 86.0 °C")], at(319));
        assert_eq!(message(&health), "SoC temperature 85.0 °C");
        health.set_conditions(vec![thermal(true, "SoC temperature 86.0 °C")], at(320));
        assert_eq!(message(&health), "SoC temperature 86.0 °C", "refreshed");
    }

    #[test]
    fn an_eviction_is_taken_once() {
        let health = NodeHealth::default();
        health.request_eviction("u1", "The node was low on resource: memory. ".into());
        assert!(health.eviction_pending());
        assert_eq!(health.take_eviction("u2"), None);
        assert!(health.take_eviction("u1").is_some());
        assert_eq!(health.take_eviction("u1"), None);
        assert!(!health.eviction_pending());
    }
}
