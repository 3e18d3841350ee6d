//! Hard eviction thresholds as upstream's kubelet takes them (`--eviction-hard`,
//! `pkg/kubelet/eviction/helpers.go` `parseThresholdStatement`): a comma-separated list of
//! `signal<value`, the value a quantity (`100Mi`) or a percentage of the signal's capacity
//! (`10%`); `0%` and `100%` switch a signal off. Every threshold compares with `<`: it is met
//! when less than the value is available.

use std::fmt;

use super::signals::{Observation, Observations};
use crate::resources::quantity::Quantity;

/// Upstream's default `--eviction-hard` on Linux (`defaults_linux.go`).
pub const DEFAULT_EVICTION_HARD: &str =
    "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%";

/// An eviction signal this kubelet observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// `memory.available`: capacity minus the node's working set.
    MemoryAvailable,
    /// `nodefs.available`: bytes available on the data directory's filesystem.
    NodeFsAvailable,
    /// `nodefs.inodesFree`: free inodes there.
    NodeFsInodesFree,
    /// `imagefs.available`: bytes available on the image store's filesystem.
    ImageFsAvailable,
    /// `imagefs.inodesFree`: free inodes there.
    ImageFsInodesFree,
    /// `pid.available`: process ids left.
    PidAvailable,
}

/// The node condition a signal drives (upstream's `signalToNodeCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pressure {
    /// `MemoryPressure`.
    Memory,
    /// `DiskPressure`.
    Disk,
    /// `PIDPressure`.
    Pid,
}

impl Signal {
    /// Every signal, in upstream's spelling order.
    pub const ALL: [Signal; 6] = [
        Signal::MemoryAvailable,
        Signal::NodeFsAvailable,
        Signal::NodeFsInodesFree,
        Signal::ImageFsAvailable,
        Signal::ImageFsInodesFree,
        Signal::PidAvailable,
    ];

    /// The signal's name as flags spell it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodeFsAvailable => "nodefs.available",
            Signal::NodeFsInodesFree => "nodefs.inodesFree",
            Signal::ImageFsAvailable => "imagefs.available",
            Signal::ImageFsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    /// The condition the signal sets.
    pub fn pressure(self) -> Pressure {
        match self {
            Signal::MemoryAvailable => Pressure::Memory,
            Signal::PidAvailable => Pressure::Pid,
            _ => Pressure::Disk,
        }
    }

    /// The resource upstream names in an eviction message (`signalToResource`).
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => "ephemeral-storage",
            Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }

    /// Whether the signal counts bytes (printed with binary suffixes) rather than things.
    fn is_bytes(self) -> bool {
        matches!(
            self,
            Signal::MemoryAvailable | Signal::NodeFsAvailable | Signal::ImageFsAvailable
        )
    }

    fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A threshold's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdValue {
    /// An absolute amount (bytes, inodes or process ids).
    Quantity(u64),
    /// A percentage of the signal's capacity, in (0, 100).
    Percentage(f64),
}

/// One hard eviction threshold: met when less than `value` of `signal` is available.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// What is measured.
    pub signal: Signal,
    /// The least that must stay available.
    pub value: ThresholdValue,
}

/// A `--eviction-hard` statement upstream would refuse, with its wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// Not `signal<value`.
    #[error("invalid eviction threshold syntax {0:?}, expected <signal><operator><value>")]
    Syntax(String),
    /// An unknown signal.
    #[error("unsupported eviction signal {0}")]
    Signal(String),
    /// A percentage that is not a number in [0, 100].
    #[error("eviction percentage threshold {signal} must be >= 0% and <= 100%: {value}")]
    Percentage {
        /// The signal.
        signal: String,
        /// The value as given.
        value: String,
    },
    /// A quantity that does not parse or is not positive.
    #[error("eviction threshold {signal} must be a positive quantity: {value}")]
    Quantity {
        /// The signal.
        signal: String,
        /// The value as given.
        value: String,
    },
    /// The same signal twice.
    #[error("duplicate eviction threshold for {0}")]
    Duplicate(String),
}

/// Parses a `--eviction-hard` value such as `memory.available<100Mi,nodefs.available<10%`.
/// An empty value means no hard thresholds.
pub fn parse_eviction_hard(text: &str) -> Result<Vec<Threshold>, ThresholdError> {
    let mut out: Vec<Threshold> = Vec::new();
    let mut seen: Vec<Signal> = Vec::new();
    for statement in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = statement
            .split_once('<')
            .ok_or_else(|| ThresholdError::Syntax(statement.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        let signal = Signal::parse(name).ok_or_else(|| ThresholdError::Signal(name.to_string()))?;
        if seen.contains(&signal) {
            return Err(ThresholdError::Duplicate(name.to_string()));
        }
        seen.push(signal);
        if let Some(threshold) = parse_statement(signal, value)? {
            out.push(threshold);
        }
    }
    Ok(out)
}

fn parse_statement(signal: Signal, value: &str) -> Result<Option<Threshold>, ThresholdError> {
    if let Some(number) = value.strip_suffix('%') {
        // upstream ignores 0% and 100%: neither can ever be acted on
        if value == "0%" || value == "100%" {
            return Ok(None);
        }
        let bad = || ThresholdError::Percentage {
            signal: signal.name().to_string(),
            value: value.to_string(),
        };
        let percent: f64 = number.parse().map_err(|_| bad())?;
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(bad());
        }
        return Ok(Some(Threshold {
            signal,
            value: ThresholdValue::Percentage(percent),
        }));
    }
    let bad = || ThresholdError::Quantity {
        signal: signal.name().to_string(),
        value: value.to_string(),
    };
    let quantity = Quantity::parse(value).map_err(|_| bad())?;
    let amount = quantity.value();
    if amount <= 0 {
        return Err(bad());
    }
    Ok(Some(Threshold {
        signal,
        value: ThresholdValue::Quantity(amount.unsigned_abs()),
    }))
}

impl Threshold {
    /// The amount this threshold stands for given the signal's capacity (upstream's
    /// `GetThresholdQuantity`: a percentage is of the capacity, truncated).
    pub fn quantity(&self, capacity: u64) -> u64 {
        match self.value {
            ThresholdValue::Quantity(q) => q,
            // f64 keeps 53 bits: exact for any capacity a board has; `as` saturates.
            ThresholdValue::Percentage(p) => (capacity as f64 * p / 100.0) as u64,
        }
    }

    /// Whether `observed` crosses this threshold.
    pub fn is_met(&self, observed: Observation) -> bool {
        observed.available < self.quantity(observed.capacity)
    }

    /// An amount of this threshold's signal as upstream prints it in messages: bytes with
    /// binary suffixes (`100Mi`), counts as plain numbers.
    pub fn format_amount(&self, amount: u64) -> String {
        format_amount(self.signal, amount)
    }
}

/// `amount` of `signal` as a quantity's canonical text.
pub fn format_amount(signal: Signal, amount: u64) -> String {
    if signal.is_bytes() {
        Quantity::from_units(i64::try_from(amount).unwrap_or(i64::MAX)).to_string()
    } else {
        amount.to_string()
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            ThresholdValue::Quantity(q) => {
                write!(f, "{}<{}", self.signal.name(), self.format_amount(q))
            }
            ThresholdValue::Percentage(p) => write!(f, "{}<{}%", self.signal.name(), p),
        }
    }
}

/// The thresholds `observations` cross (upstream's `thresholdsMet`); a signal without an
/// observation is never met.
pub fn thresholds_met(thresholds: &[Threshold], observations: &Observations) -> Vec<Threshold> {
    thresholds
        .iter()
        .filter(|t| observations.get(t.signal).is_some_and(|o| t.is_met(o)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_upstreams() {
        let t = parse_eviction_hard(DEFAULT_EVICTION_HARD).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            t[0],
            Threshold {
                signal: Signal::MemoryAvailable,
                value: ThresholdValue::Quantity(100 << 20)
            }
        );
        assert_eq!(t[1].value, ThresholdValue::Percentage(10.0));
        assert_eq!(t[2].signal, Signal::ImageFsAvailable);
        assert_eq!(t[3].signal, Signal::NodeFsInodesFree);
        assert_eq!(t[3].to_string(), "nodefs.inodesFree<5%");
        assert_eq!(t[0].to_string(), "memory.available<100Mi");
    }

    #[test]
    fn quantities_and_percentages_parse_as_upstream() {
        let t = parse_eviction_hard(
            " memory.available<1.5Gi , pid.available<1k,imagefs.available<0.5%",
        )
        .unwrap();
        assert_eq!(t[0].value, ThresholdValue::Quantity(3 << 29));
        assert_eq!(t[1].value, ThresholdValue::Quantity(1000));
        assert_eq!(t[2].quantity(1000), 5);
        // 0% and 100% switch the signal off; an empty flag means no thresholds
        assert!(
            parse_eviction_hard("nodefs.available<0%,memory.available<100%")
                .unwrap()
                .is_empty()
        );
        assert!(parse_eviction_hard("").unwrap().is_empty());
    }

    #[test]
    fn bad_statements_are_refused_with_the_reason() {
        for (bad, why) in [
            ("memory.available>1Gi", "syntax"),
            ("memory.free<1Gi", "unsupported eviction signal memory.free"),
            ("nodefs.available<101%", "must be >= 0% and <= 100%"),
            ("nodefs.available<-1%", "must be >= 0% and <= 100%"),
            ("nodefs.available<x%", "must be >= 0% and <= 100%"),
            ("memory.available<0", "must be a positive quantity"),
            ("memory.available<-1Mi", "must be a positive quantity"),
            ("memory.available<lots", "must be a positive quantity"),
            ("memory.available<1Mi,memory.available<2Mi", "duplicate"),
        ] {
            let e = parse_eviction_hard(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_threshold_is_met_when_less_than_its_value_is_available() {
        let t = parse_eviction_hard("memory.available<100Mi,nodefs.available<10%").unwrap();
        let mut o = Observations {
            memory: Some(Observation {
                available: 100 << 20,
                capacity: 1 << 30,
            }),
            nodefs: Some(Observation {
                available: 99,
                capacity: 1000,
            }),
            ..Observations::default()
        };
        let met = thresholds_met(&t, &o);
        assert_eq!(met.len(), 1, "exactly 100Mi left is not below 100Mi");
        assert_eq!(met[0].signal, Signal::NodeFsAvailable);
        o.memory = Some(Observation {
            available: (100 << 20) - 1,
            capacity: 1 << 30,
        });
        assert_eq!(thresholds_met(&t, &o).len(), 2);
        // no observation, no pressure
        assert!(thresholds_met(&t, &Observations::default()).is_empty());
    }
}
