//! Environmental sensors on I2C: which ones a node reads (`--sensor bme280@/dev/i2c-1:0x76`),
//! what a reading holds, and how a driver fails. The drivers (`bme280.rs`, `sht3x.rs`) are
//! written against `embedded_hal::i2c::I2c`; `sensor_task.rs` polls them.

use std::fmt;

/// The sensor chips bramble can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SensorKind {
    /// Bosch BME280: temperature, humidity, pressure.
    Bme280,
    /// Sensirion SHT3x (SHT30/31/35): temperature, humidity.
    Sht3x,
}

impl SensorKind {
    /// The name used in options, metrics and annotations.
    pub fn name(self) -> &'static str {
        match self {
            SensorKind::Bme280 => "bme280",
            SensorKind::Sht3x => "sht3x",
        }
    }
}

/// One sensor to read: its chip, bus and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorSpec {
    /// The chip.
    pub kind: SensorKind,
    /// The I2C bus device (`/dev/i2c-1`).
    pub bus: String,
    /// 7-bit I2C address.
    pub address: u8,
}

impl fmt::Display for SensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{:#04x}", self.kind.name(), self.bus, self.address)
    }
}

/// A `--sensor` value that does not name a sensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sensor {0:?}: expected CHIP@BUS:ADDRESS, CHIP bme280 or sht3x, BUS a /dev path, ADDRESS 0x08-0x77 (e.g. bme280@/dev/i2c-1:0x76)")]
pub struct SensorSpecError(pub String);

impl std::str::FromStr for SensorSpec {
    type Err = SensorSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SensorSpecError(text.chars().take(100).collect());
        let (kind, rest) = text.split_once('@').ok_or_else(bad)?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "bme280" => SensorKind::Bme280,
            "sht3x" | "sht30" | "sht31" | "sht35" => SensorKind::Sht3x,
            _ => return Err(bad()),
        };
        let (bus, address) = rest.rsplit_once(':').ok_or_else(bad)?;
        if !bus.starts_with("/dev/") || bus.len() > 64 {
            return Err(bad());
        }
        let address = match address
            .strip_prefix("0x")
            .or_else(|| address.strip_prefix("0X"))
        {
            Some(hex) => u8::from_str_radix(hex, 16),
            None => address.parse(),
        }
        .map_err(|_| bad())?;
        // 0x00-0x07 and 0x78-0x7f are reserved by the I2C specification
        if !(0x08..=0x77).contains(&address) {
            return Err(bad());
        }
        Ok(SensorSpec {
            kind,
            bus: bus.to_string(),
            address,
        })
    }
}

/// What a sensor measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Air temperature, °C.
    pub temperature_celsius: f64,
    /// Relative humidity, %.
    pub humidity_percent: Option<f64>,
    /// Air pressure, Pa.
    pub pressure_pascals: Option<f64>,
}

/// A sensor could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensorError {
    /// The bus transfer failed (no device at the address, bus error).
    #[error("I2C transfer: {0:?}")]
    Bus(embedded_hal::i2c::ErrorKind),
    /// Something else answered at the address.
    #[error("chip id {found:#04x}, expected {expected:#04x}")]
    WrongChip {
        /// The id read.
        found: u8,
        /// The id of the chip expected.
        expected: u8,
    },
    /// A word arrived with a wrong checksum.
    #[error("CRC mismatch: computed {computed:#04x}, received {received:#04x}")]
    Crc {
        /// The checksum of the bytes received.
        computed: u8,
        /// The checksum the chip sent.
        received: u8,
    },
    /// The chip reported a value it sends for a skipped or failed measurement.
    #[error("the chip returned no measurement")]
    NoMeasurement,
    /// The bus device could not be opened.
    #[error("opening {bus}: {message}")]
    Open {
        /// The bus device.
        bus: String,
        /// Why.
        message: String,
    },
}

/// The bus error of any `embedded-hal` I2C implementation.
pub fn bus_error<E: embedded_hal::i2c::Error>(e: E) -> SensorError {
    SensorError::Bus(e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sensor_options() {
        let s: SensorSpec = "bme280@/dev/i2c-1:0x76".parse().unwrap();
        assert_eq!(
            s,
            SensorSpec {
                kind: SensorKind::Bme280,
                bus: "/dev/i2c-1".into(),
                address: 0x76
            }
        );
        assert_eq!(s.to_string(), "bme280@/dev/i2c-1:0x76");
        let s: SensorSpec = "SHT31@/dev/i2c-7:68".parse().unwrap();
        assert_eq!((s.kind, s.address), (SensorKind::Sht3x, 0x44));
        for bad in [
            "bme280",
            "dht22@/dev/i2c-1:0x40",
            "bme280@i2c-1:0x76",
            "bme280@/dev/i2c-1:0x80",
            "bme280@/dev/i2c-1:0x03",
            "bme280@/dev/i2c-1:seventy",
            "bme280@/dev/i2c-1:0x1ff",
        ] {
            assert!(bad.parse::<SensorSpec>().is_err(), "{bad}");
        }
    }
}
