//! Fan control from the SoC temperature. [`FanControl`] is the pure state machine: steps
//! from the board profile, each starting at its `on` temperature and ending only at its lower
//! `off` temperature (hysteresis, as the kernel's thermal trips do), so a fan near its trip
//! point does not chatter. [`FanDrive`] is what turns a duty cycle into air: a GPIO line
//! through `embedded_hal::digital::OutputPin` ([`PinFan`], on for any duty) or a sysfs PWM
//! channel (`fan_pwm.rs`). [`run`] ties them to the thermal zone.

use std::path::PathBuf;
use std::time::Duration;

use embedded_hal::digital::OutputPin;
use tokio_util::sync::CancellationToken;

use super::board_profile::FanStep;
use super::thermal;

/// How often the task reads the temperature; thermal trips in Raspberry Pi device trees are
/// polled at 1-5 s, and a fan needs no finer control.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The step the fan is on, from the temperatures seen.
#[derive(Debug, Clone)]
pub struct FanControl {
    steps: Vec<FanStep>,
    level: usize,
}

impl FanControl {
    /// A stopped fan with these steps (coolest first, as the profile check ensures).
    pub fn new(steps: Vec<FanStep>) -> Self {
        Self { steps, level: 0 }
    }

    /// Takes a new temperature and returns the duty cycle (0–100 %) to run at.
    pub fn update(&mut self, millicelsius: i32) -> u8 {
        while let Some(next) = self.steps.get(self.level) {
            if millicelsius < next.on_millicelsius {
                break;
            }
            self.level += 1;
        }
        while let Some(current) = self.level.checked_sub(1).and_then(|i| self.steps.get(i)) {
            if millicelsius > current.off_millicelsius {
                break;
            }
            self.level -= 1;
        }
        self.duty()
    }

    /// The duty cycle of the current step, 0 when stopped.
    pub fn duty(&self) -> u8 {
        self.level
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map_or(0, |s| s.duty_percent.min(100))
    }

    /// Full speed: what to do when the temperature cannot be read.
    pub fn full_speed(&mut self) -> u8 {
        self.level = self.steps.len();
        self.duty().max(100)
    }
}

/// Driving the fan failed.
#[derive(Debug, thiserror::Error)]
pub enum FanError {
    /// The GPIO line refused the new level.
    #[error("setting the fan line: {0:?}")]
    Pin(embedded_hal::digital::ErrorKind),
    /// A sysfs PWM file could not be read or written.
    #[error("{path}: {source}")]
    Sysfs {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// No PWM chip of that name.
    #[error("no PWM chip {0:?}")]
    NoChip(String),
}

/// Something that runs a fan at a duty cycle.
pub trait FanDrive {
    /// Runs the fan at `percent` (0 stops it).
    fn set_duty(&mut self, percent: u8) -> Result<(), FanError>;
}

impl<F: FanDrive + ?Sized> FanDrive for Box<F> {
    fn set_duty(&mut self, percent: u8) -> Result<(), FanError> {
        (**self).set_duty(percent)
    }
}

/// A fan switched by a GPIO line; the line is written only when the fan starts or stops.
pub struct PinFan<P> {
    pin: P,
    active_low: bool,
    running: Option<bool>,
}

impl<P: OutputPin> PinFan<P> {
    /// Wraps `pin`; the first duty set writes it whatever it was.
    pub fn new(pin: P, active_low: bool) -> Self {
        Self {
            pin,
            active_low,
            running: None,
        }
    }

    /// Gives the pin back.
    pub fn into_inner(self) -> P {
        self.pin
    }
}

impl<P: OutputPin> FanDrive for PinFan<P> {
    fn set_duty(&mut self, percent: u8) -> Result<(), FanError> {
        use embedded_hal::digital::Error as _;
        let run = percent > 0;
        if self.running == Some(run) {
            return Ok(());
        }
        let result = if run != self.active_low {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        };
        result.map_err(|e| FanError::Pin(e.kind()))?;
        self.running = Some(run);
        Ok(())
    }
}

/// Drives `fan` from the temperature of `zone` every `interval` until `shutdown`. An
/// unreadable zone runs the fan at full speed.
pub async fn run<F: FanDrive>(
    mut fan: F,
    mut control: FanControl,
    zone: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut warned = false;
    loop {
        let duty = match thermal::read_millicelsius(&zone) {
            Ok(t) => control.update(t),
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "SoC temperature unreadable: fan at full speed");
                }
                warned = true;
                control.full_speed()
            }
        };
        if let Err(e) = fan.set_duty(duty) {
            if !warned {
                tracing::warn!(error = %e, "driving the fan");
            }
            warned = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    fn step(on: i32, off: i32, duty: u8) -> FanStep {
        FanStep {
            on_millicelsius: on,
            off_millicelsius: off,
            duty_percent: duty,
        }
    }

    #[test]
    fn a_gpio_fan_switches_with_hysteresis() {
        let expected = [
            Transaction::set(State::Low),
            Transaction::set(State::High),
            Transaction::set(State::Low),
            Transaction::set(State::High),
        ];
        let mut fan = PinFan::new(Mock::new(&expected), false);
        let mut control = FanControl::new(vec![step(60_000, 50_000, 100)]);
        // 40 off; 61 on; 55 and 51 stay on; 50 off; 59 stays off; 60 on
        for t in [40_000, 61_000, 55_000, 51_000, 50_000, 59_000, 60_000] {
            fan.set_duty(control.update(t)).unwrap();
        }
        fan.into_inner().done();
    }

    #[test]
    fn an_active_low_fan_runs_on_a_low_line() {
        let expected = [Transaction::set(State::Low)];
        let mut fan = PinFan::new(Mock::new(&expected), true);
        fan.set_duty(100).unwrap();
        fan.into_inner().done();
    }

    #[test]
    fn pwm_steps_rise_and_fall_with_hysteresis() {
        // the Raspberry Pi 5's steps
        let mut c = FanControl::new(vec![
            step(50_000, 45_000, 29),
            step(60_000, 55_000, 49),
            step(67_500, 62_500, 69),
            step(75_000, 70_000, 98),
        ]);
        let seen: Vec<u8> = [
            30_000, 50_000, 47_000, 45_000, 80_000, 71_000, 70_000, 56_000, 20_000, 62_000,
        ]
        .iter()
        .map(|t| c.update(*t))
        .collect();
        assert_eq!(seen, [0, 29, 29, 0, 98, 98, 69, 49, 0, 49]);
        assert_eq!(c.full_speed(), 100);
    }

    #[test]
    fn extreme_temperatures_do_not_panic() {
        let mut c = FanControl::new(vec![step(60_000, 50_000, 100)]);
        assert_eq!(c.update(i32::MAX), 100);
        assert_eq!(c.update(i32::MIN), 0);
        assert_eq!(FanControl::new(Vec::new()).update(i32::MAX), 0);
    }

    #[derive(Clone, Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl FanDrive for Recorder {
        fn set_duty(&mut self, percent: u8) -> Result<(), FanError> {
            self.0.lock().unwrap().push(percent);
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_task_follows_the_thermal_zone_and_fails_safe() {
        let zone = tempfile::tempdir().unwrap();
        let temp = zone.path().join("temp");
        std::fs::write(&temp, "65000\n").unwrap();
        let fan = Recorder::default();
        let shutdown = CancellationToken::new();
        let control = FanControl::new(vec![step(60_000, 50_000, 100)]);
        let task = tokio::spawn(run(
            fan.clone(),
            control,
            zone.path().to_path_buf(),
            Duration::from_millis(5),
            shutdown.clone(),
        ));
        let wait_for = |want: u8| {
            let fan = fan.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while fan.0.lock().unwrap().last() != Some(&want) {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "fan never at {want}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        wait_for(100).await;
        std::fs::write(&temp, "40000\n").unwrap();
        wait_for(0).await;
        std::fs::remove_file(&temp).unwrap();
        wait_for(100).await;
        shutdown.cancel();
        task.await.unwrap();
    }
}
