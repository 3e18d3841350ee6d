//! Sensirion SHT3x (SHT30, SHT31, SHT35) humidity and temperature sensor over I2C (datasheet
//! "SHT3x-DIS", version 7). One single-shot measurement per reading, high repeatability,
//! without clock stretching (command 0x2400; some I2C masters, the Raspberry Pi's among them,
//! mishandle stretching); each 16-bit word comes with a CRC-8 (polynomial 0x31, initial
//! 0xFF) that is checked before the word is used.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::sensor::{bus_error, Reading, SensorError};

/// Single shot, high repeatability, clock stretching disabled.
pub const MEASURE_HIGH_REPEATABILITY: [u8; 2] = [0x24, 0x00];
/// Longest high-repeatability measurement (datasheet table 4: 15.5 ms), rounded up.
const MEASURE_MS: u32 = 16;

/// The datasheet's CRC-8: polynomial 0x31 (x^8 + x^5 + x^4 + 1), initial 0xFF, no final XOR.
pub fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    for byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn word(bytes: &[u8]) -> Result<u16, SensorError> {
    let [msb, lsb, received] = bytes else {
        return Err(SensorError::NoMeasurement);
    };
    let computed = crc8(&[*msb, *lsb]);
    if computed != *received {
        return Err(SensorError::Crc {
            computed,
            received: *received,
        });
    }
    Ok(u16::from_be_bytes([*msb, *lsb]))
}

/// Temperature in millidegrees Celsius from the raw word: T = -45 + 175 · raw / (2^16 - 1).
pub fn millicelsius(raw: u16) -> i32 {
    let scaled = 175_000 * i64::from(raw) / 65_535;
    // at most 175000: fits
    i32::try_from(scaled - 45_000).unwrap_or(i32::MAX)
}

/// Relative humidity in thousandths of a percent: RH = 100 · raw / (2^16 - 1).
pub fn millipercent(raw: u16) -> u32 {
    let scaled = 100_000 * u64::from(raw) / 65_535;
    u32::try_from(scaled).unwrap_or(100_000)
}

/// An SHT3x at an I2C address (0x44, or 0x45 with ADDR high).
pub struct Sht3x<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Sht3x<I> {
    /// Wraps the bus; the chip has no id register, the first CRC-checked reading is the check.
    pub fn new(i2c: I, address: u8) -> Self {
        Self { i2c, address }
    }

    /// Runs one single-shot measurement.
    pub fn measure(&mut self, delay: &mut impl DelayNs) -> Result<Reading, SensorError> {
        self.i2c
            .write(self.address, &MEASURE_HIGH_REPEATABILITY)
            .map_err(bus_error)?;
        delay.delay_ms(MEASURE_MS);
        let mut data = [0u8; 6];
        self.i2c.read(self.address, &mut data).map_err(bus_error)?;
        let (t, rh) = data.split_at(3);
        let t = word(t)?;
        let rh = word(rh)?;
        Ok(Reading {
            temperature_celsius: f64::from(millicelsius(t)) / 1000.0,
            humidity_percent: Some(f64::from(millipercent(rh)) / 1000.0),
            pressure_pascals: None,
        })
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn crc_is_the_datasheet_example() {
        // datasheet table 20: CRC(0xBEEF) = 0x92
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn a_single_shot_measurement_converts_raw_words() {
        // 0x6666 is 40 % of full scale: -45 + 0.4 · 175 = 25 °C; 0x8000 is 50 %RH
        let t = [0x66, 0x66, crc8(&[0x66, 0x66])];
        let rh = [0x80, 0x00, crc8(&[0x80, 0x00])];
        let expected = [
            Transaction::write(0x44, vec![0x24, 0x00]),
            Transaction::read(0x44, [t, rh].concat()),
        ];
        let mut sensor = Sht3x::new(Mock::new(&expected), 0x44);
        let r = sensor.measure(&mut NoopDelay::new()).unwrap();
        sensor.release().done();
        assert_eq!(r.temperature_celsius, 25.0);
        assert_eq!(r.humidity_percent, Some(50.0));
        assert_eq!(r.pressure_pascals, None);
    }

    #[test]
    fn a_corrupted_word_is_refused() {
        let expected = [
            Transaction::write(0x45, vec![0x24, 0x00]),
            Transaction::read(0x45, vec![0x66, 0x66, 0x00, 0x80, 0x00, 0xA2]),
        ];
        let mut sensor = Sht3x::new(Mock::new(&expected), 0x45);
        let err = sensor.measure(&mut NoopDelay::new()).unwrap_err();
        assert_eq!(
            err,
            SensorError::Crc {
                computed: crc8(&[0x66, 0x66]),
                received: 0
            }
        );
        sensor.release().done();
    }

    #[test]
    fn conversion_covers_the_whole_range() {
        assert_eq!(millicelsius(0), -45_000);
        assert_eq!(millicelsius(u16::MAX), 130_000);
        assert_eq!(millipercent(0), 0);
        assert_eq!(millipercent(u16::MAX), 100_000);
    }
}
