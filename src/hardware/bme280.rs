//! Bosch BME280 temperature, humidity and pressure sensor over I2C (datasheet BST-BME280-DS002,
//! rev. 1.6+). Each reading is a forced-mode measurement with 1x oversampling: the chip
//! measures once and sleeps, which keeps it from warming itself. The compensation is the
//! datasheet's integer code (section 4.2.3: 32-bit temperature and humidity, 64-bit
//! pressure) written with wrapping and checked operations, so no calibration or raw value, as
//! odd as a broken chip may send, can panic.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::sensor::{bus_error, Reading, SensorError};

/// The chip id register's value on a BME280 (a BMP280 answers 0x58).
pub const CHIP_ID: u8 = 0x60;
const REG_ID: u8 = 0xD0;
const REG_CALIB_TP: u8 = 0x88;
const REG_CALIB_H: u8 = 0xE1;
const REG_CTRL_HUM: u8 = 0xF2;
const REG_CTRL_MEAS: u8 = 0xF4;
const REG_DATA: u8 = 0xF7;
/// `ctrl_hum`: humidity oversampling x1.
const CTRL_HUM_X1: u8 = 0b001;
/// `ctrl_meas`: temperature x1, pressure x1, forced mode.
const CTRL_MEAS_FORCED_X1: u8 = (0b001 << 5) | (0b001 << 2) | 0b01;
/// Longest measurement at x1 for all three (datasheet 9.1: 1.25 + 2.3 + 2.875 + 2.875 ms).
const MEASURE_MS: u32 = 10;

/// The chip's trimming parameters (`dig_*` in the datasheet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calibration {
    /// `dig_T1`..`dig_T3`.
    pub t1: u16,
    #[allow(missing_docs)]
    pub t2: i16,
    #[allow(missing_docs)]
    pub t3: i16,
    /// `dig_P1`..`dig_P9`.
    pub p1: u16,
    #[allow(missing_docs)]
    pub p: [i16; 8],
    /// `dig_H1`..`dig_H6`.
    pub h1: u8,
    #[allow(missing_docs)]
    pub h2: i16,
    #[allow(missing_docs)]
    pub h3: u8,
    #[allow(missing_docs)]
    pub h4: i16,
    #[allow(missing_docs)]
    pub h5: i16,
    #[allow(missing_docs)]
    pub h6: i8,
}

impl Calibration {
    /// Decodes registers 0x88–0xA1 (`tp`) and 0xE1–0xE7 (`h`) as datasheet table 16 lays them.
    pub fn from_registers(tp: &[u8; 26], h: &[u8; 7]) -> Self {
        let u16le = |i: usize| u16::from_le_bytes([tp[i], tp[i + 1]]);
        let i16le = |i: usize| i16::from_le_bytes([tp[i], tp[i + 1]]);
        let mut p = [0i16; 8];
        for (n, v) in p.iter_mut().enumerate() {
            *v = i16le(8 + 2 * n);
        }
        Self {
            t1: u16le(0),
            t2: i16le(2),
            t3: i16le(4),
            p1: u16le(6),
            p,
            // 0xA0 is unused
            h1: tp[25],
            h2: i16::from_le_bytes([h[0], h[1]]),
            h3: h[2],
            // dig_H4 is 0xE4 (bits 11:4, signed) and 0xE5 bits 3:0; dig_H5 is 0xE6 (bits 11:4,
            // signed) and 0xE5 bits 7:4
            h4: (i16::from(h[3] as i8) << 4) | i16::from(h[4] & 0x0F),
            h5: (i16::from(h[5] as i8) << 4) | i16::from(h[4] >> 4),
            h6: h[6] as i8,
        }
    }
}

/// Raw ADC values of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    /// 20-bit temperature.
    pub temperature: i32,
    /// 20-bit pressure.
    pub pressure: i32,
    /// 16-bit humidity.
    pub humidity: i32,
}

impl Raw {
    /// Decodes registers 0xF7–0xFE.
    pub fn from_registers(d: &[u8; 8]) -> Self {
        let twenty =
            |m: u8, l: u8, x: u8| (i32::from(m) << 12) | (i32::from(l) << 4) | (i32::from(x) >> 4);
        Self {
            pressure: twenty(d[0], d[1], d[2]),
            temperature: twenty(d[3], d[4], d[5]),
            humidity: (i32::from(d[6]) << 8) | i32::from(d[7]),
        }
    }
}

/// Compensated values in the datasheet's fixed-point units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compensated {
    /// 0.01 °C.
    pub centi_celsius: i32,
    /// Pa in Q24.8 (`None` when the formula would divide by zero).
    pub pressure_q24_8: Option<u32>,
    /// %RH in Q22.10.
    pub humidity_q22_10: u32,
}

/// The datasheet's integer compensation.
pub fn compensate(c: &Calibration, raw: Raw) -> Compensated {
    // temperature, BME280_compensate_T_int32
    let t1 = i32::from(c.t1);
    let adc_t = raw.temperature;
    let var1 = ((adc_t >> 3).wrapping_sub(t1 << 1)).wrapping_mul(i32::from(c.t2)) >> 11;
    let d = (adc_t >> 4).wrapping_sub(t1);
    let var2 = ((d.wrapping_mul(d) >> 12).wrapping_mul(i32::from(c.t3))) >> 14;
    let t_fine = var1.wrapping_add(var2);
    let centi_celsius = t_fine.wrapping_mul(5).wrapping_add(128) >> 8;

    Compensated {
        centi_celsius,
        pressure_q24_8: pressure(c, t_fine, raw.pressure),
        humidity_q22_10: humidity(c, t_fine, raw.humidity),
    }
}

/// BME280_compensate_P_int64.
fn pressure(c: &Calibration, t_fine: i32, adc_p: i32) -> Option<u32> {
    let [p2, p3, p4, p5, p6, p7, p8, p9] = c.p.map(i64::from);
    let mut var1 = i64::from(t_fine) - 128_000;
    let mut var2 = var1.wrapping_mul(var1).wrapping_mul(p6);
    var2 = var2.wrapping_add(var1.wrapping_mul(p5) << 17);
    var2 = var2.wrapping_add(p4 << 35);
    var1 =
        (var1.wrapping_mul(var1).wrapping_mul(p3) >> 8).wrapping_add(var1.wrapping_mul(p2) << 12);
    var1 = ((1i64 << 47).wrapping_add(var1)).wrapping_mul(i64::from(c.p1)) >> 33;
    if var1 == 0 {
        return None;
    }
    let mut p = 1_048_576 - i64::from(adc_p);
    p = ((p << 31).wrapping_sub(var2))
        .wrapping_mul(3125)
        .checked_div(var1)?;
    let var1 = p9.wrapping_mul(p >> 13).wrapping_mul(p >> 13) >> 25;
    let var2 = p8.wrapping_mul(p) >> 19;
    p = (p.wrapping_add(var1).wrapping_add(var2) >> 8).wrapping_add(p7 << 4);
    u32::try_from(p).ok()
}

/// bme280_compensate_H_int32.
fn humidity(c: &Calibration, t_fine: i32, adc_h: i32) -> u32 {
    let (h1, h2, h3) = (i32::from(c.h1), i32::from(c.h2), i32::from(c.h3));
    let (h4, h5, h6) = (i32::from(c.h4), i32::from(c.h5), i32::from(c.h6));
    let v = t_fine.wrapping_sub(76_800);
    let a = ((adc_h << 14)
        .wrapping_sub(h4 << 20)
        .wrapping_sub(h5.wrapping_mul(v))
        .wrapping_add(16_384))
        >> 15;
    let b = (((v.wrapping_mul(h6) >> 10)
        .wrapping_mul((v.wrapping_mul(h3) >> 11).wrapping_add(32_768))
        >> 10)
        .wrapping_add(2_097_152))
    .wrapping_mul(h2)
    .wrapping_add(8_192)
        >> 14;
    let mut v = a.wrapping_mul(b);
    let sq = (v >> 15).wrapping_mul(v >> 15) >> 7;
    v = v.wrapping_sub(sq.wrapping_mul(h1) >> 4);
    let v = v.clamp(0, 419_430_400);
    // clamped to 0..=419430400 above, so the conversion cannot fail
    u32::try_from(v >> 12).unwrap_or(0)
}

/// A BME280 at an I2C address.
pub struct Bme280<I> {
    i2c: I,
    address: u8,
    calibration: Calibration,
}

impl<I: I2c> Bme280<I> {
    /// Checks the chip id and reads the calibration.
    pub fn new(mut i2c: I, address: u8) -> Result<Self, SensorError> {
        let mut id = [0u8; 1];
        i2c.write_read(address, &[REG_ID], &mut id)
            .map_err(bus_error)?;
        if id[0] != CHIP_ID {
            return Err(SensorError::WrongChip {
                found: id[0],
                expected: CHIP_ID,
            });
        }
        let mut tp = [0u8; 26];
        i2c.write_read(address, &[REG_CALIB_TP], &mut tp)
            .map_err(bus_error)?;
        let mut h = [0u8; 7];
        i2c.write_read(address, &[REG_CALIB_H], &mut h)
            .map_err(bus_error)?;
        Ok(Self {
            i2c,
            address,
            calibration: Calibration::from_registers(&tp, &h),
        })
    }

    /// The calibration read from the chip.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Runs one forced-mode measurement and compensates it.
    pub fn measure(&mut self, delay: &mut impl DelayNs) -> Result<Reading, SensorError> {
        // ctrl_hum takes effect only after a write to ctrl_meas (datasheet 5.4.3)
        self.i2c
            .write(self.address, &[REG_CTRL_HUM, CTRL_HUM_X1])
            .map_err(bus_error)?;
        self.i2c
            .write(self.address, &[REG_CTRL_MEAS, CTRL_MEAS_FORCED_X1])
            .map_err(bus_error)?;
        delay.delay_ms(MEASURE_MS);
        let mut data = [0u8; 8];
        self.i2c
            .write_read(self.address, &[REG_DATA], &mut data)
            .map_err(bus_error)?;
        let raw = Raw::from_registers(&data);
        // 0x80000 / 0x8000: the reset values, sent when a measurement was skipped
        if raw.temperature == 0x80000 {
            return Err(SensorError::NoMeasurement);
        }
        let c = compensate(&self.calibration, raw);
        Ok(Reading {
            temperature_celsius: f64::from(c.centi_celsius) / 100.0,
            humidity_percent: (raw.humidity != 0x8000)
                .then(|| f64::from(c.humidity_q22_10) / 1024.0),
            pressure_pascals: c
                .pressure_q24_8
                .filter(|_| raw.pressure != 0x80000)
                .map(|p| f64::from(p) / 256.0),
        })
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

#[cfg(test)]
#[path = "bme280_tests.rs"]
mod tests;
