//! A board profile as `boards/*.toml` writes it and the binary carries it: how a board is
//! recognised (device-tree `model` prefixes and `compatible` strings), its Rust target, status
//! LED, fan with trip temperatures, SoC thermal zone, throttle flags file, usual device nodes
//! and the memory kept back for the system.
//!
//! This file is compiled twice: into the build script (`src/build_boards.rs`), which reads the
//! TOML, refuses unknown keys, runs [`check`] and writes postcard, and into the library, which
//! decodes that postcard. It therefore uses nothing but `serde` and `std`. Postcard is not
//! self-describing: fields are never skipped when serialising, and enums are externally tagged
//! (which TOML writes as `led = { sysfs = ["ACT"] }`).

use serde::{Deserialize, Serialize};

/// One board's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// Short identifier, the value of the `bramble.io/board` label (`rpi4b`).
    pub id: String,
    /// Human name (`Raspberry Pi 4 Model B`).
    pub name: String,
    /// Rust target triple of the release binary for this board.
    pub target: String,
    /// Prefixes of `/proc/device-tree/model` that identify the board.
    #[serde(default)]
    pub model_prefixes: Vec<String>,
    /// Board-level strings of `/proc/device-tree/compatible` (most specific first there).
    #[serde(default)]
    pub compatible: Vec<String>,
    /// The SoC's compatible string (`brcm,bcm2711`), for reference: boards with other
    /// peripherals share SoCs, so it does not select a profile.
    #[serde(default)]
    pub soc: Option<String>,
    /// The status LED, if the board has one user space may drive.
    #[serde(default)]
    pub led: Option<LedSpec>,
    /// The fan bramble drives, if any.
    #[serde(default)]
    pub fan: Option<FanSpec>,
    /// The SoC thermal zone directory (`/sys/class/thermal/thermal_zone0`).
    pub thermal_zone: String,
    /// File holding the firmware's under-voltage and throttling word, where there is one.
    #[serde(default)]
    pub throttled_file: Option<String>,
    /// Device nodes the board usually has (`/dev/i2c-1`, `/dev/gpiochip0`).
    #[serde(default)]
    pub devices: Vec<String>,
    /// Memory kept back from pods for the system by default, in MiB.
    pub system_reserved_mib: u32,
}

/// How the status LED is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedSpec {
    /// A kernel LED, `/sys/class/leds/<name>`: the first name present is used (kernels
    /// renamed `led0` to `ACT`).
    Sysfs(Vec<String>),
    /// A GPIO line driven directly.
    Gpio(GpioLine),
}

/// A line of a GPIO character device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioLine {
    /// The chip's device node (`/dev/gpiochip0`).
    pub chip: String,
    /// Line offset on that chip.
    pub line: u32,
    /// The load is on when the line is low.
    #[serde(default)]
    pub active_low: bool,
}

/// A fan and when it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanSpec {
    /// What drives it.
    pub output: FanOutputSpec,
    /// Speed steps, coolest first; a GPIO fan has one step at 100 %.
    pub steps: Vec<FanStep>,
}

/// What drives a fan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanOutputSpec {
    /// A GPIO line switching the fan on and off.
    Gpio(GpioLine),
    /// A sysfs PWM channel.
    Pwm(PwmChannel),
}

/// A sysfs PWM channel (`/sys/class/pwm/pwmchipN/pwmM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PwmChannel {
    /// The chip: `pwmchipN`, or the name of the platform device behind it
    /// (`1f0009c000.pwm`), which does not depend on probe order.
    pub chip: String,
    /// Channel on that chip.
    pub channel: u32,
    /// PWM period in nanoseconds.
    pub period_ns: u32,
    /// Full speed is a low duty cycle (the signal is inverted on the board).
    #[serde(default)]
    pub inverted: bool,
}

/// One fan step: on at `on_millicelsius`, back to the step below at `off_millicelsius`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanStep {
    /// Temperature at or above which this step starts, in millidegrees Celsius.
    pub on_millicelsius: i32,
    /// Temperature at or below which this step ends (lower than `on`: hysteresis).
    pub off_millicelsius: i32,
    /// Duty cycle of this step, 1–100 %.
    pub duty_percent: u8,
}

/// The lowest trip temperature a profile may give (10 °C): below it a fan would never stop.
pub const MIN_TRIP_MILLICELSIUS: i32 = 10_000;
/// The highest trip temperature a profile may give (110 °C): SoCs shut down before it.
pub const MAX_TRIP_MILLICELSIUS: i32 = 110_000;
/// The smallest hysteresis (2 °C): less and a fan chatters around its trip point.
pub const MIN_HYSTERESIS_MILLICELSIUS: i32 = 2_000;
/// The identifier of the profile for boards no other profile recognises.
pub const GENERIC_ID: &str = "generic";

/// Checks a set of profiles: identifiers are unique label values, `generic` is present,
/// recognition strings belong to one profile each, paths are absolute and fan steps are
/// sane. Returns every problem found, one sentence each.
pub fn check(profiles: &[BoardProfile]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut compatibles = std::collections::BTreeMap::new();
    for p in profiles {
        let id = &p.id;
        if !ids.insert(id.as_str()) {
            problems.push(format!("profile id {id:?} is used twice"));
        }
        let id_ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            problems.push(format!(
                "{id:?}: an id is 1-63 lowercase letters, digits or '-'"
            ));
        }
        if p.name.trim().is_empty() {
            problems.push(format!("{id}: name is empty"));
        }
        if !p.target.contains("-linux-") {
            problems.push(format!("{id}: target {:?} is not a Linux target", p.target));
        }
        for c in &p.compatible {
            if let Some(other) = compatibles.insert(c.as_str(), id.as_str()) {
                problems.push(format!("{id}: compatible {c:?} is also claimed by {other}"));
            }
        }
        if p.model_prefixes.iter().any(|m| m.trim().is_empty()) {
            problems.push(format!("{id}: an empty model prefix matches every board"));
        }
        if id != GENERIC_ID && p.compatible.is_empty() && p.model_prefixes.is_empty() {
            problems.push(format!("{id}: no compatible string or model prefix"));
        }
        let mut paths: Vec<&str> = vec![p.thermal_zone.as_str()];
        paths.extend(p.throttled_file.as_deref());
        paths.extend(p.devices.iter().map(String::as_str));
        for path in paths {
            if !path.starts_with('/') {
                problems.push(format!("{id}: path {path:?} is not absolute"));
            }
        }
        if let Some(LedSpec::Sysfs(names)) = &p.led {
            if names.is_empty() || names.iter().any(|n| n.is_empty() || n.contains('/')) {
                problems.push(format!("{id}: LED names must be non-empty file names"));
            }
        }
        if p.system_reserved_mib == 0 || p.system_reserved_mib > 4096 {
            problems.push(format!("{id}: system_reserved_mib must be 1-4096"));
        }
        if let Some(fan) = &p.fan {
            check_fan(id, fan, &mut problems);
        }
    }
    if !ids.contains(GENERIC_ID) {
        problems.push(format!("no {GENERIC_ID:?} profile for unknown boards"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_fan(id: &str, fan: &FanSpec, problems: &mut Vec<String>) {
    if fan.steps.is_empty() {
        problems.push(format!("{id}: a fan needs at least one step"));
    }
    if matches!(fan.output, FanOutputSpec::Gpio(_))
        && (fan.steps.len() != 1 || fan.steps.iter().any(|s| s.duty_percent != 100))
    {
        problems.push(format!("{id}: a GPIO fan has exactly one step at 100 %"));
    }
    if let FanOutputSpec::Pwm(pwm) = &fan.output {
        if pwm.period_ns == 0 {
            problems.push(format!("{id}: PWM period must not be 0"));
        }
    }
    let trips = MIN_TRIP_MILLICELSIUS..=MAX_TRIP_MILLICELSIUS;
    let mut previous: Option<&FanStep> = None;
    for s in &fan.steps {
        if !trips.contains(&s.on_millicelsius) || !trips.contains(&s.off_millicelsius) {
            problems.push(format!(
                "{id}: fan trip {} / {} m°C is outside {MIN_TRIP_MILLICELSIUS}-{MAX_TRIP_MILLICELSIUS}",
                s.on_millicelsius, s.off_millicelsius
            ));
        }
        if s.on_millicelsius.saturating_sub(s.off_millicelsius) < MIN_HYSTERESIS_MILLICELSIUS {
            problems.push(format!(
                "{id}: fan step on at {} m°C must stop at least {MIN_HYSTERESIS_MILLICELSIUS} m°C lower, not at {}",
                s.on_millicelsius, s.off_millicelsius
            ));
        }
        if s.duty_percent == 0 || s.duty_percent > 100 {
            problems.push(format!("{id}: fan duty {} % is not 1-100", s.duty_percent));
        }
        if let Some(prev) = previous {
            if s.on_millicelsius <= prev.on_millicelsius
                || s.off_millicelsius <= prev.off_millicelsius
                || s.duty_percent <= prev.duty_percent
            {
                problems.push(format!(
                    "{id}: fan steps must rise in temperature and duty, coolest first"
                ));
            }
        }
        previous = Some(s);
    }
}
