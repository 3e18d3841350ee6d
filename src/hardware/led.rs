//! Status LED patterns and the LED behind them. Each node state has a pattern a person can
//! tell apart from across a room: joining blinks slowly, ready is steady on, a node that lost
//! the API server double-blinks, an error blinks fast. A pattern is a pure sequence of on/off
//! steps; [`Led`] is anything that can be switched, here a GPIO line through
//! `embedded_hal::digital::OutputPin` ([`PinLed`]) or a kernel LED (`sysfs_led.rs`).

use std::time::Duration;

use embedded_hal::digital::OutputPin;

/// What the node is doing, as the status LED shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeState {
    /// Starting, registering with the API server, waiting for its first answer.
    #[default]
    Joining,
    /// Registered and reporting status.
    Ready,
    /// Was registered; the API server does not answer now.
    Disconnected,
    /// Stopped by an error it cannot recover from by itself.
    Error,
}

/// One step of a pattern: the LED on or off for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// LED lit.
    pub on: bool,
    /// How long.
    pub duration: Duration,
}

const fn step(on: bool, millis: u64) -> Step {
    Step {
        on,
        duration: Duration::from_millis(millis),
    }
}

const SLOW_BLINK: &[Step] = &[step(true, 1000), step(false, 1000)];
const STEADY_ON: &[Step] = &[step(true, 1000)];
const DOUBLE_BLINK: &[Step] = &[
    step(true, 150),
    step(false, 150),
    step(true, 150),
    step(false, 1050),
];
const FAST_BLINK: &[Step] = &[step(true, 100), step(false, 100)];

/// One cycle of the pattern for `state`; the LED repeats it while the state holds.
pub fn pattern(state: NodeState) -> &'static [Step] {
    match state {
        NodeState::Joining => SLOW_BLINK,
        NodeState::Ready => STEADY_ON,
        NodeState::Disconnected => DOUBLE_BLINK,
        NodeState::Error => FAST_BLINK,
    }
}

/// Switching the LED failed.
#[derive(Debug, thiserror::Error)]
pub enum LedError {
    /// The GPIO line refused the new level.
    #[error("setting the LED line: {0:?}")]
    Pin(embedded_hal::digital::ErrorKind),
    /// A sysfs LED file could not be written.
    #[error("{path}: {source}")]
    Sysfs {
        /// The file.
        path: std::path::PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
}

/// Something that lights up.
pub trait Led {
    /// Lights the LED (`true`) or puts it out.
    fn set(&mut self, on: bool) -> Result<(), LedError>;
}

/// An LED on a GPIO line; `active_low` when the line sinks the LED's current.
pub struct PinLed<P> {
    pin: P,
    active_low: bool,
}

impl<P: OutputPin> PinLed<P> {
    /// Wraps `pin`.
    pub fn new(pin: P, active_low: bool) -> Self {
        Self { pin, active_low }
    }

    /// Gives the pin back.
    pub fn into_inner(self) -> P {
        self.pin
    }
}

impl<P: OutputPin> Led for PinLed<P> {
    fn set(&mut self, on: bool) -> Result<(), LedError> {
        use embedded_hal::digital::Error as _;
        let high = on != self.active_low;
        let result = if high {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        };
        result.map_err(|e| LedError::Pin(e.kind()))
    }
}

impl<L: Led + ?Sized> Led for Box<L> {
    fn set(&mut self, on: bool) -> Result<(), LedError> {
        (**self).set(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    fn play(led: &mut impl Led, state: NodeState) -> Duration {
        pattern(state)
            .iter()
            .map(|s| {
                led.set(s.on).unwrap();
                s.duration
            })
            .sum()
    }

    #[test]
    fn each_state_drives_its_own_pin_sequence() {
        let (h, l) = (Transaction::set(State::High), Transaction::set(State::Low));
        let cases = [
            (NodeState::Joining, vec![h.clone(), l.clone()], 2000),
            (NodeState::Ready, vec![h.clone()], 1000),
            (
                NodeState::Disconnected,
                vec![h.clone(), l.clone(), h.clone(), l.clone()],
                1500,
            ),
            (NodeState::Error, vec![h.clone(), l.clone()], 200),
        ];
        for (state, expected, cycle_ms) in cases {
            let mut led = PinLed::new(Mock::new(&expected), false);
            assert_eq!(play(&mut led, state), Duration::from_millis(cycle_ms));
            led.into_inner().done();
        }
    }

    #[test]
    fn an_active_low_led_is_lit_by_a_low_line() {
        let expected = [Transaction::set(State::Low), Transaction::set(State::High)];
        let mut led = PinLed::new(Mock::new(&expected), true);
        play(&mut led, NodeState::Error);
        led.into_inner().done();
    }

    #[test]
    fn a_refusing_line_is_an_error() {
        let error = embedded_hal_mock::eh1::MockError::Io(std::io::ErrorKind::Other);
        let expected = [Transaction::set(State::High).with_error(error)];
        let mut led = PinLed::new(Mock::new(&expected), false);
        assert!(matches!(led.set(true), Err(LedError::Pin(_))));
        led.into_inner().done();
    }

    #[test]
    fn patterns_are_told_apart_by_their_rhythm() {
        let states = [
            NodeState::Joining,
            NodeState::Ready,
            NodeState::Disconnected,
            NodeState::Error,
        ];
        for (i, a) in states.iter().enumerate() {
            for b in &states[i + 1..] {
                assert_ne!(pattern(*a), pattern(*b));
            }
        }
    }
}
