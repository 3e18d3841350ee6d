use super::*;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

const ADDR: u8 = 0x76;

/// The trimming values of the datasheet's worked example (BMP280 datasheet 3.12, the same
/// temperature and pressure formulas), with humidity values of a real BME280.
fn example() -> Calibration {
    Calibration {
        t1: 27504,
        t2: 26435,
        t3: -1000,
        p1: 36477,
        p: [-10685, 3024, 2855, 140, -7, 15500, -14600, 6000],
        h1: 75,
        h2: 362,
        h3: 0,
        h4: 313,
        h5: 50,
        h6: 30,
    }
}

/// Registers 0x88-0xA1 and 0xE1-0xE7 holding `c`, as the chip lays them out.
fn registers(c: &Calibration) -> (Vec<u8>, Vec<u8>) {
    let mut tp = Vec::new();
    tp.extend(c.t1.to_le_bytes());
    tp.extend(c.t2.to_le_bytes());
    tp.extend(c.t3.to_le_bytes());
    tp.extend(c.p1.to_le_bytes());
    for p in c.p {
        tp.extend(p.to_le_bytes());
    }
    tp.push(0); // 0xA0, unused
    tp.push(c.h1);
    let mut h = Vec::new();
    h.extend(c.h2.to_le_bytes());
    h.push(c.h3);
    h.push((c.h4 >> 4) as u8);
    h.push(((c.h5 as u8 & 0x0F) << 4) | (c.h4 as u8 & 0x0F));
    h.push((c.h5 >> 4) as u8);
    h.push(c.h6 as u8);
    (tp, h)
}

/// Registers 0xF7-0xFE for the example's raw values.
fn data(pressure: u32, temperature: u32, humidity: u16) -> Vec<u8> {
    let twenty = |v: u32| [(v >> 12) as u8, (v >> 4) as u8, ((v & 0xF) << 4) as u8];
    let mut d = Vec::new();
    d.extend(twenty(pressure));
    d.extend(twenty(temperature));
    d.extend(humidity.to_be_bytes());
    d
}

fn probe(c: &Calibration) -> Vec<Transaction> {
    let (tp, h) = registers(c);
    vec![
        Transaction::write_read(ADDR, vec![0xD0], vec![0x60]),
        Transaction::write_read(ADDR, vec![0x88], tp),
        Transaction::write_read(ADDR, vec![0xE1], h),
    ]
}

#[test]
fn calibration_decodes_from_the_chip_registers() {
    let c = example();
    let (tp, h) = registers(&c);
    let decoded = Calibration::from_registers(&tp.try_into().unwrap(), &h.try_into().unwrap());
    assert_eq!(decoded, c);
    // negative dig_H4 / dig_H5 keep their sign across the split register 0xE5
    let odd = Calibration {
        h4: -300,
        h5: -7,
        ..c
    };
    let (tp, h) = registers(&odd);
    let decoded = Calibration::from_registers(&tp.try_into().unwrap(), &h.try_into().unwrap());
    assert_eq!((decoded.h4, decoded.h5), (-300, -7));
}

#[test]
fn a_forced_measurement_is_the_datasheet_example() {
    let c = example();
    let mut expected = probe(&c);
    expected.extend([
        Transaction::write(ADDR, vec![0xF2, 0x01]),
        Transaction::write(ADDR, vec![0xF4, 0x25]),
        Transaction::write_read(ADDR, vec![0xF7], data(415148, 519888, 30000)),
    ]);
    let mut sensor = Bme280::new(Mock::new(&expected), ADDR).unwrap();
    assert_eq!(sensor.calibration(), &c);
    let r = sensor.measure(&mut NoopDelay::new()).unwrap();
    sensor.release().done();
    // the datasheet: 25.08 °C and 100653.27 Pa (its floating-point result)
    assert_eq!(r.temperature_celsius, 25.08);
    let p = r.pressure_pascals.unwrap();
    assert!((p - 100_653.27).abs() < 0.1, "{p}");
    // the datasheet's double-precision humidity formula for the same inputs
    let t_fine = 128_422.0 - 76_800.0;
    let (h1, h2, h3, h4, h5, h6) = (75.0, 362.0, 0.0, 313.0, 50.0, 30.0);
    let mut h = (30_000.0 - (h4 * 64.0 + h5 / 16_384.0 * t_fine))
        * (h2 / 65_536.0 * (1.0 + h6 / 67_108_864.0 * t_fine * (1.0 + h3 / 67_108_864.0 * t_fine)));
    h *= 1.0 - h1 * h / 524_288.0;
    let got = r.humidity_percent.unwrap();
    assert!((got - h).abs() < 0.01, "{got} vs {h}");
}

#[test]
fn another_chip_at_the_address_is_refused() {
    // a BMP280 answers 0x58
    let expected = [Transaction::write_read(ADDR, vec![0xD0], vec![0x58])];
    let mut mock = Mock::new(&expected);
    let err = Bme280::new(mock.clone(), ADDR).err().unwrap();
    assert_eq!(
        err,
        SensorError::WrongChip {
            found: 0x58,
            expected: 0x60
        }
    );
    mock.done();
}

#[test]
fn a_bus_error_is_reported() {
    let expected = [Transaction::write_read(ADDR, vec![0xD0], vec![0])
        .with_error(embedded_hal::i2c::ErrorKind::Other)];
    let mut mock = Mock::new(&expected);
    let err = Bme280::new(mock.clone(), ADDR).err().unwrap();
    assert!(matches!(err, SensorError::Bus(_)));
    mock.done();
}

#[test]
fn a_skipped_measurement_is_no_reading() {
    let c = example();
    let mut expected = probe(&c);
    expected.extend([
        Transaction::write(ADDR, vec![0xF2, 0x01]),
        Transaction::write(ADDR, vec![0xF4, 0x25]),
        Transaction::write_read(ADDR, vec![0xF7], data(0x80000, 0x80000, 0x8000)),
    ]);
    let mut sensor = Bme280::new(Mock::new(&expected), ADDR).unwrap();
    assert_eq!(
        sensor.measure(&mut NoopDelay::new()),
        Err(SensorError::NoMeasurement)
    );
    sensor.release().done();
}

#[test]
fn no_calibration_or_raw_value_panics() {
    // a small xorshift generator: deterministic, covers the whole range of every field
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let extremes = [0u8, 0xFF, 0x80, 0x7F];
    for i in 0..20_000 {
        let mut tp = [0u8; 26];
        let mut h = [0u8; 7];
        let mut d = [0u8; 8];
        for b in tp.iter_mut().chain(h.iter_mut()).chain(d.iter_mut()) {
            *b = if i % 4 == 0 {
                extremes[(next() % 4) as usize]
            } else {
                next() as u8
            };
        }
        let c = Calibration::from_registers(&tp, &h);
        let out = compensate(&c, Raw::from_registers(&d));
        assert!(out.humidity_q22_10 <= 100 * 1024);
    }
}
