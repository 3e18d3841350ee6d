//! The board's own health as node conditions, True meaning a problem as the pressure
//! conditions do; pure state machines over plain readings (millidegrees, the firmware's
//! `get_throttled` bitmask), so sequences of readings are tested directly.
//!
//! - `bramble.io/Thermal`: True from a SoC temperature of 80 °C, False again only at 75 °C or
//!   below (hysteresis: a board hovering at the limit does not flap); True too while the
//!   firmware's soft temperature limit is active or it throttles without an under-voltage.
//! - `bramble.io/Power`: True while the firmware reports under-voltage now, and for ten
//!   minutes after it was last seen (now, or a new "has occurred" bit between readings).
//! - `bramble.io/Storage` ([`storage_health`](super::storage_health)).
//!
//! A reading that cannot be taken (no such file on this board) changes nothing; a condition
//! never read is not reported.

use std::time::{Duration, Instant};

use super::ConditionState;

/// Condition type of the SoC temperature.
pub const THERMAL: &str = "bramble.io/Thermal";
/// Condition type of the power supply.
pub const POWER: &str = "bramble.io/Power";

/// Thermal goes True at this temperature (millidegrees Celsius); the Pi firmware's soft
/// limit is 80 °C on current boards, throttling hard at 85 °C.
pub const THERMAL_HIGH_MILLI: i64 = 80_000;
/// Thermal goes False again at or below this temperature.
pub const THERMAL_NORMAL_MILLI: i64 = 75_000;
/// Power stays True this long after the last under-voltage.
pub const POWER_HOLD: Duration = Duration::from_secs(10 * 60);

/// The meanings of the firmware's `get_throttled` bits (the same in `vcgencmd`).
pub mod throttled {
    /// Under-voltage now.
    pub const UNDER_VOLTAGE: u32 = 1 << 0;
    /// ARM frequency capped now.
    pub const FREQUENCY_CAPPED: u32 = 1 << 1;
    /// Throttled now.
    pub const THROTTLED: u32 = 1 << 2;
    /// Soft temperature limit active now.
    pub const SOFT_TEMP_LIMIT: u32 = 1 << 3;
    /// Under-voltage has occurred since boot.
    pub const UNDER_VOLTAGE_OCCURRED: u32 = 1 << 16;
}

/// Degrees with one decimal from millidegrees (`85.0 °C`).
fn celsius(milli: i64) -> String {
    format!("{:.1} °C", milli as f64 / 1000.0)
}

/// The `bramble.io/Thermal` state machine.
#[derive(Debug, Clone, Default)]
pub struct Thermal {
    /// Whether the temperature is in its high state (hysteresis), once read.
    hot: Option<bool>,
    last_temp: Option<i64>,
    last_flags: Option<u32>,
}

impl Thermal {
    /// Takes a reading (`None`: could not be read) and answers the condition.
    pub fn update(
        &mut self,
        millicelsius: Option<i64>,
        flags: Option<u32>,
    ) -> Option<ConditionState> {
        if let Some(t) = millicelsius {
            let hot = if t >= THERMAL_HIGH_MILLI {
                true
            } else if t <= THERMAL_NORMAL_MILLI {
                false
            } else {
                self.hot.unwrap_or(false)
            };
            self.hot = Some(hot);
            self.last_temp = Some(t);
        }
        if flags.is_some() {
            self.last_flags = flags;
        }
        self.condition()
    }

    fn condition(&self) -> Option<ConditionState> {
        if self.hot.is_none() && self.last_flags.is_none() {
            return None;
        }
        let flags = self.last_flags.unwrap_or(0);
        let temp = self
            .last_temp
            .map(|t| format!("SoC temperature {}", celsius(t)))
            .unwrap_or_else(|| "SoC temperature unknown".to_string());
        let (active, reason, message) = if self.hot == Some(true) {
            (
                true,
                "SoCTemperatureHigh",
                format!(
                    "{temp}, at or above {}; normal again at or below {}",
                    celsius(THERMAL_HIGH_MILLI),
                    celsius(THERMAL_NORMAL_MILLI)
                ),
            )
        } else if flags & throttled::SOFT_TEMP_LIMIT != 0 {
            (
                true,
                "SoftTemperatureLimit",
                format!("{temp}; the firmware's soft temperature limit is active (get_throttled {flags:#x})"),
            )
        } else if flags & throttled::THROTTLED != 0 && flags & throttled::UNDER_VOLTAGE == 0 {
            (
                true,
                "Throttled",
                format!("{temp}; the firmware is throttling the SoC (get_throttled {flags:#x})"),
            )
        } else {
            (
                false,
                "SoCTemperatureNormal",
                format!("{temp}, below {}", celsius(THERMAL_HIGH_MILLI)),
            )
        };
        Some(ConditionState {
            type_: THERMAL,
            active,
            reason,
            message,
        })
    }
}

/// The `bramble.io/Power` state machine.
#[derive(Debug, Clone, Default)]
pub struct Power {
    last_flags: Option<u32>,
    last_under_voltage: Option<Instant>,
}

impl Power {
    /// Takes a `get_throttled` reading at `now` (`None`: could not be read).
    pub fn update(&mut self, flags: Option<u32>, now: Instant) -> Option<ConditionState> {
        if let Some(f) = flags {
            let newly_occurred = f & throttled::UNDER_VOLTAGE_OCCURRED != 0
                && self
                    .last_flags
                    .map_or(true, |old| old & throttled::UNDER_VOLTAGE_OCCURRED == 0);
            if f & throttled::UNDER_VOLTAGE != 0 || newly_occurred {
                self.last_under_voltage = Some(now);
            }
            self.last_flags = Some(f);
        }
        let flags = self.last_flags?;
        let since = self
            .last_under_voltage
            .map(|at| now.saturating_duration_since(at))
            .filter(|d| *d < POWER_HOLD);
        let mut also = String::new();
        if flags & throttled::FREQUENCY_CAPPED != 0 {
            also.push_str("; ARM frequency capped");
        }
        if flags & throttled::THROTTLED != 0 {
            also.push_str("; throttled");
        }
        let state = match since {
            Some(_) if flags & throttled::UNDER_VOLTAGE != 0 => ConditionState {
                type_: POWER,
                active: true,
                reason: "UnderVoltageDetected",
                message: format!("under-voltage now{also} (get_throttled {flags:#x})"),
            },
            Some(ago) => ConditionState {
                type_: POWER,
                active: true,
                reason: "UnderVoltageDetected",
                message: format!(
                    "under-voltage {} s ago{also} (get_throttled {flags:#x})",
                    ago.as_secs()
                ),
            },
            None => ConditionState {
                type_: POWER,
                active: false,
                reason: "PowerSupplyOk",
                message: format!(
                    "no under-voltage in the last {} minutes{also} (get_throttled {flags:#x})",
                    POWER_HOLD.as_secs() / 60
                ),
            },
        };
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(c: &Option<ConditionState>) -> Option<(bool, &'static str)> {
        c.as_ref().map(|c| (c.active, c.reason))
    }

    #[test]
    fn thermal_has_hysteresis_over_a_sequence_of_readings() {
        let mut t = Thermal::default();
        assert_eq!(
            status(&t.update(None, None)),
            None,
            "never read: no condition"
        );
        let seq = [
            (60_000, false),
            (79_999, false),
            (80_000, true),
            (78_000, true), // between the limits: stays high
            (75_001, true),
            (75_000, false),
            (78_000, false), // between the limits: stays normal
            (85_000, true),
        ];
        for (milli, hot) in seq {
            let c = t.update(Some(milli), None).unwrap();
            assert_eq!(c.active, hot, "at {milli}");
            assert_eq!(c.type_, THERMAL);
        }
        let c = t.update(None, None).unwrap();
        assert!(c.active, "a missing reading changes nothing");
        assert_eq!(c.reason, "SoCTemperatureHigh");
        assert_eq!(
            c.message,
            "SoC temperature 85.0 °C, at or above 80.0 °C; normal again at or below 75.0 °C"
        );
        let c = t.update(Some(70_000), None).unwrap();
        assert_eq!(
            (c.reason, c.message.as_str()),
            (
                "SoCTemperatureNormal",
                "SoC temperature 70.0 °C, below 80.0 °C"
            )
        );
    }

    #[test]
    fn the_firmware_throttling_for_heat_makes_thermal_true() {
        let mut t = Thermal::default();
        let c = t
            .update(Some(70_000), Some(throttled::SOFT_TEMP_LIMIT))
            .unwrap();
        assert_eq!((c.active, c.reason), (true, "SoftTemperatureLimit"));
        let c = t.update(Some(70_000), Some(throttled::THROTTLED)).unwrap();
        assert_eq!((c.active, c.reason), (true, "Throttled"));
        // throttling because of under-voltage is the power supply's condition
        let c = t
            .update(
                Some(70_000),
                Some(throttled::THROTTLED | throttled::UNDER_VOLTAGE),
            )
            .unwrap();
        assert!(!c.active);
        let c = t.update(Some(70_000), Some(0x0002_0000)).unwrap();
        assert!(!c.active, "past events alone are not a thermal problem now");
    }

    #[test]
    fn power_holds_for_ten_minutes_after_the_last_under_voltage() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut p = Power::default();
        assert_eq!(status(&p.update(None, at(0))), None);
        assert_eq!(
            status(&p.update(Some(0), at(0))),
            Some((false, "PowerSupplyOk"))
        );
        let c = p.update(Some(0x5_0005), at(10)).unwrap();
        assert_eq!((c.active, c.reason), (true, "UnderVoltageDetected"));
        assert_eq!(
            c.message,
            "under-voltage now; throttled (get_throttled 0x50005)"
        );
        // gone now, but occurred: True until ten minutes after the last sight
        let c = p.update(Some(0x5_0000), at(70)).unwrap();
        assert_eq!(c.message, "under-voltage 60 s ago (get_throttled 0x50000)");
        assert!(
            p.update(None, at(609)).unwrap().active,
            "unreadable: unchanged"
        );
        assert!(p.update(Some(0x5_0000), at(609)).unwrap().active);
        assert_eq!(
            status(&p.update(Some(0x5_0000), at(610))),
            Some((false, "PowerSupplyOk"))
        );
    }

    #[test]
    fn an_under_voltage_between_readings_counts_from_when_it_is_seen() {
        let start = Instant::now();
        let mut p = Power::default();
        assert!(!p.update(Some(0), start).unwrap().active);
        // the sticky bit appears: it happened since the last reading
        let seen = start + Duration::from_secs(30);
        assert!(
            p.update(Some(throttled::UNDER_VOLTAGE_OCCURRED), seen)
                .unwrap()
                .active
        );
        let later = seen + POWER_HOLD;
        assert!(
            !p.update(Some(throttled::UNDER_VOLTAGE_OCCURRED), later)
                .unwrap()
                .active
        );
    }
}
