//! The board itself: its profile (`boards/*.toml`, embedded at build time), status LED, fan,
//! environmental sensors, SoC temperature and power flags, written against the
//! `embedded-hal` 1.0 traits and run on `linux-embedded-hal` (GPIO character device, I2C)
//! and sysfs on a board.
//!
//! [`spawn`] starts what the profile and options name: the status LED following the node's
//! state, the fan following the SoC temperature, the sensor poll. What this machine lacks
//! (no LED file, no PWM chip, a development machine) is logged once at debug level and
//! skipped; nothing here stops the node.

pub mod bme280;
pub mod board_profile;
pub mod fan;
pub mod fan_pwm;
pub mod led;
pub mod power;
pub mod profile;
pub mod sensor;
pub mod sensor_task;
pub mod sht3x;
pub mod status_light;
pub mod sysfs_led;
pub mod thermal;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use led::NodeState;

use board_profile::{BoardProfile, FanOutputSpec, GpioLine, LedSpec};
use fan::{FanControl, FanDrive, PinFan};
use led::{Led, PinLed};
use sensor::SensorSpec;
use sensor_task::SensorReadings;

/// Label carrying the board profile's id.
pub const BOARD_LABEL: &str = "bramble.io/board";

/// What the hardware tasks take from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardwareOptions {
    /// Environmental sensors to poll (`--sensor`).
    pub sensors: Vec<SensorSpec>,
}

/// The running hardware tasks' shared state.
#[derive(Debug, Clone, Default)]
pub struct Hardware {
    /// Latest sensor readings.
    pub readings: Arc<SensorReadings>,
}

/// Starts the status LED, fan and sensor tasks the profile and options call for; they run
/// until `shutdown`. Needs a Tokio runtime.
pub fn spawn(
    profile: &BoardProfile,
    options: &HardwareOptions,
    node_state: watch::Receiver<NodeState>,
    shutdown: CancellationToken,
) -> Hardware {
    match open_led(profile.led.as_ref()) {
        Some(led) => {
            tokio::spawn(status_light::run(led, node_state, shutdown.clone()));
        }
        None => tracing::debug!(board = %profile.id, "no status LED to drive"),
    }
    if let Some(spec) = &profile.fan {
        match open_fan(&spec.output) {
            Some(fan) => {
                tokio::spawn(fan::run(
                    fan,
                    FanControl::new(spec.steps.clone()),
                    PathBuf::from(&profile.thermal_zone),
                    fan::POLL_INTERVAL,
                    shutdown.clone(),
                ));
            }
            None => tracing::debug!(board = %profile.id, "fan not driven"),
        }
    }
    let hardware = Hardware::default();
    if !options.sensors.is_empty() {
        tokio::spawn(sensor_task::run(
            options.sensors.clone(),
            sensor_task::read_sensor,
            hardware.readings.clone(),
            sensor_task::POLL_INTERVAL,
            shutdown,
        ));
    }
    hardware
}

/// Requests a GPIO line as an output, initially inactive.
fn output_line(line: &GpioLine, consumer: &str) -> Result<linux_embedded_hal::CdevPin, String> {
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    let handle = Chip::new(&line.chip)
        .and_then(|mut chip| chip.get_line(line.line))
        .and_then(|l| {
            l.request(
                LineRequestFlags::OUTPUT,
                u8::from(line.active_low),
                consumer,
            )
        })
        .map_err(|e| format!("{} line {}: {e}", line.chip, line.line))?;
    linux_embedded_hal::CdevPin::new(handle).map_err(|e| e.to_string())
}

fn open_led(spec: Option<&LedSpec>) -> Option<Box<dyn Led + Send>> {
    let result: Result<Box<dyn Led + Send>, String> = match spec? {
        LedSpec::Sysfs(names) => {
            match sysfs_led::SysfsLed::open_first(Path::new(sysfs_led::LEDS_ROOT), names) {
                Some(Ok(led)) => Ok(Box::new(led)),
                Some(Err(e)) => Err(e.to_string()),
                None => Err(format!("none of {names:?} under {}", sysfs_led::LEDS_ROOT)),
            }
        }
        LedSpec::Gpio(line) => output_line(line, "bramble-status")
            .map(|pin| Box::new(PinLed::new(pin, line.active_low)) as Box<dyn Led + Send>),
    };
    result
        .map_err(|e| tracing::debug!(error = %e, "status LED unavailable"))
        .ok()
}

fn open_fan(spec: &FanOutputSpec) -> Option<Box<dyn FanDrive + Send>> {
    let result: Result<Box<dyn FanDrive + Send>, String> = match spec {
        FanOutputSpec::Gpio(line) => output_line(line, "bramble-fan")
            .map(|pin| Box::new(PinFan::new(pin, line.active_low)) as Box<dyn FanDrive + Send>),
        FanOutputSpec::Pwm(channel) => fan_pwm::PwmFan::open(Path::new(fan_pwm::PWM_ROOT), channel)
            .map(|f| Box::new(f) as Box<dyn FanDrive + Send>)
            .map_err(|e| e.to_string()),
    };
    result
        .map_err(|e| tracing::debug!(error = %e, "fan unavailable"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_board_without_its_hardware_starts_nothing_and_does_not_fail() {
        // a profile naming an LED, a GPIO fan and a PWM fan this machine does not have
        let mut profile = profile::generic();
        profile.led = Some(LedSpec::Sysfs(vec![format!(
            "bramble-test-{}",
            std::process::id()
        )]));
        profile.fan = Some(board_profile::FanSpec {
            output: FanOutputSpec::Gpio(GpioLine {
                chip: format!("/dev/bramble-test-{}", std::process::id()),
                line: 0,
                active_low: false,
            }),
            steps: Vec::new(),
        });
        let (_tx, rx) = watch::channel(NodeState::Joining);
        let shutdown = CancellationToken::new();
        let hw = spawn(&profile, &HardwareOptions::default(), rx, shutdown.clone());
        assert!(hw.readings.snapshot().is_empty());
        assert!(open_fan(&FanOutputSpec::Pwm(board_profile::PwmChannel {
            chip: format!("bramble-test-{}", std::process::id()),
            channel: 0,
            period_ns: 40_000,
            inverted: false,
        }))
        .is_none());
        shutdown.cancel();
    }
}
