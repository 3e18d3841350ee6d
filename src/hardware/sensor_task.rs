//! Polling of the configured environmental sensors into the latest readings, and the two
//! ways they leave the node: Prometheus text (`bramble_sensor_*` gauges, one series per
//! sensor) and Node annotations (`bramble.io/sensor.<chip>-<bus>-<address>.<quantity>`). A
//! sensor that fails drops out of both until it answers again, so a stale value is never
//! shown as current; each failure is logged once, when it starts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::bme280::Bme280;
use super::sensor::{Reading, SensorError, SensorKind, SensorSpec};
use super::sht3x::Sht3x;

/// How often the sensors are read: room air changes slowly, and a BME280 read less often
/// warms itself less.
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);
/// Prefix of the Node annotations carrying readings.
pub const ANNOTATION_PREFIX: &str = "bramble.io/sensor.";

/// Picks one quantity out of a reading.
type Quantity = fn(&Reading) -> Option<f64>;

/// The latest reading of every sensor that answered its last poll.
#[derive(Debug, Default)]
pub struct SensorReadings {
    latest: Mutex<BTreeMap<SensorSpec, Reading>>,
}

impl SensorReadings {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SensorSpec, Reading>> {
        // a poisoned lock only means a panic elsewhere; the map itself is always whole
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a poll's outcome.
    pub fn record(&self, spec: &SensorSpec, outcome: Option<Reading>) {
        let mut latest = self.lock();
        match outcome {
            Some(r) => latest.insert(spec.clone(), r),
            None => latest.remove(spec),
        };
    }

    /// The latest readings.
    pub fn snapshot(&self) -> BTreeMap<SensorSpec, Reading> {
        self.lock().clone()
    }

    /// Writes the readings as Prometheus gauges.
    pub fn render_prometheus(&self, out: &mut String) {
        let latest = self.snapshot();
        let families: [(&str, &str, Quantity); 3] = [
            (
                "bramble_sensor_temperature_celsius",
                "Air temperature measured by an I2C sensor.",
                |r| Some(r.temperature_celsius),
            ),
            (
                "bramble_sensor_relative_humidity_percent",
                "Relative humidity measured by an I2C sensor.",
                |r| r.humidity_percent,
            ),
            (
                "bramble_sensor_pressure_pascals",
                "Air pressure measured by an I2C sensor.",
                |r| r.pressure_pascals,
            ),
        ];
        for (name, help, value) in families {
            let series: Vec<_> = latest
                .iter()
                .filter_map(|(s, r)| value(r).map(|v| (s, v)))
                .collect();
            if series.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (spec, v) in series {
                let _ = writeln!(
                    out,
                    "{name}{{sensor=\"{}\",bus=\"{}\",address=\"{:#04x}\"}} {v}",
                    spec.kind.name(),
                    escape_label(&spec.bus),
                    spec.address
                );
            }
        }
    }

    /// The Node annotations for the readings: temperature and humidity to 0.1, pressure to
    /// the pascal.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (spec, r) in self.snapshot() {
            let key =
                |quantity: &str| format!("{ANNOTATION_PREFIX}{}.{quantity}", sensor_name(&spec));
            out.insert(key("temperature"), format!("{:.1}", r.temperature_celsius));
            if let Some(h) = r.humidity_percent {
                out.insert(key("humidity"), format!("{h:.1}"));
            }
            if let Some(p) = r.pressure_pascals {
                out.insert(key("pressure"), format!("{p:.0}"));
            }
        }
        out
    }
}

/// `bme280-i2c-1-0x76`: the chip, the bus device's name and the address, in the characters
/// an annotation name allows.
pub fn sensor_name(spec: &SensorSpec) -> String {
    let bus = spec.bus.rsplit('/').next().unwrap_or_default();
    let bus: String = bus
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    format!("{}-{}-{:#04x}", spec.kind.name(), bus, spec.address)
}

/// Prometheus label-value escaping: backslash, quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Reads one sensor on this machine's bus (blocking: I2C transfers and the measurement wait).
pub fn read_sensor(spec: &SensorSpec) -> Result<Reading, SensorError> {
    let bus = linux_embedded_hal::I2cdev::new(&spec.bus).map_err(|e| SensorError::Open {
        bus: spec.bus.clone(),
        message: e.to_string(),
    })?;
    let mut delay = linux_embedded_hal::Delay;
    match spec.kind {
        SensorKind::Bme280 => Bme280::new(bus, spec.address)?.measure(&mut delay),
        SensorKind::Sht3x => Sht3x::new(bus, spec.address).measure(&mut delay),
    }
}

/// Polls `sensors` with `read` every `interval` into `readings` until `shutdown`.
pub async fn run<R>(
    sensors: Vec<SensorSpec>,
    read: R,
    readings: Arc<SensorReadings>,
    interval: Duration,
    shutdown: CancellationToken,
) where
    R: Fn(&SensorSpec) -> Result<Reading, SensorError> + Send + Sync + Clone + 'static,
{
    let mut failing = BTreeSet::new();
    loop {
        for spec in &sensors {
            let (read, s) = (read.clone(), spec.clone());
            let outcome = tokio::task::spawn_blocking(move || read(&s)).await;
            match outcome {
                Ok(Ok(r)) => {
                    if failing.remove(spec) {
                        tracing::info!(sensor = %spec, "sensor answers again");
                    }
                    readings.record(spec, Some(r));
                }
                Ok(Err(e)) => {
                    if failing.insert(spec.clone()) {
                        tracing::warn!(sensor = %spec, error = %e, "sensor unreadable");
                    }
                    readings.record(spec, None);
                }
                Err(e) => {
                    tracing::warn!(sensor = %spec, error = %e, "sensor read did not finish");
                    readings.record(spec, None);
                }
            }
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

    fn bme() -> SensorSpec {
        "bme280@/dev/i2c-1:0x76".parse().unwrap()
    }

    fn sht() -> SensorSpec {
        "sht3x@/dev/i2c-1:0x44".parse().unwrap()
    }

    fn readings() -> SensorReadings {
        let r = SensorReadings::default();
        r.record(
            &bme(),
            Some(Reading {
                temperature_celsius: 23.44,
                humidity_percent: Some(41.96),
                pressure_pascals: Some(100_653.25),
            }),
        );
        r.record(
            &sht(),
            Some(Reading {
                temperature_celsius: 25.0,
                humidity_percent: Some(50.0),
                pressure_pascals: None,
            }),
        );
        r
    }

    #[test]
    fn prometheus_text_has_one_series_per_sensor() {
        let mut out = String::new();
        readings().render_prometheus(&mut out);
        assert!(out.contains("# TYPE bramble_sensor_temperature_celsius gauge\n"));
        assert!(out.contains(
            "bramble_sensor_temperature_celsius{sensor=\"bme280\",bus=\"/dev/i2c-1\",address=\"0x76\"} 23.44\n"
        ));
        assert!(out.contains(
            "bramble_sensor_relative_humidity_percent{sensor=\"sht3x\",bus=\"/dev/i2c-1\",address=\"0x44\"} 50\n"
        ));
        assert!(out.contains(
            "bramble_sensor_pressure_pascals{sensor=\"bme280\",bus=\"/dev/i2c-1\",address=\"0x76\"} 100653.25\n"
        ));
        // the SHT3x has no pressure
        assert!(!out.contains("bramble_sensor_pressure_pascals{sensor=\"sht3x\""));
        let mut empty = String::new();
        SensorReadings::default().render_prometheus(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn annotations_name_the_sensor_and_round_the_values() {
        let a = readings().annotations();
        assert_eq!(a["bramble.io/sensor.bme280-i2c-1-0x76.temperature"], "23.4");
        assert_eq!(a["bramble.io/sensor.bme280-i2c-1-0x76.humidity"], "42.0");
        assert_eq!(a["bramble.io/sensor.bme280-i2c-1-0x76.pressure"], "100653");
        assert_eq!(a["bramble.io/sensor.sht3x-i2c-1-0x44.temperature"], "25.0");
        assert!(!a.contains_key("bramble.io/sensor.sht3x-i2c-1-0x44.pressure"));
    }

    #[tokio::test]
    async fn a_failing_sensor_drops_out_until_it_answers() {
        let readings = Arc::new(SensorReadings::default());
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = healthy.clone();
        let read = move |_: &SensorSpec| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(Reading {
                    temperature_celsius: 20.0,
                    humidity_percent: None,
                    pressure_pascals: None,
                })
            } else {
                Err(SensorError::Bus(embedded_hal::i2c::ErrorKind::Other))
            }
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            vec![bme()],
            read,
            readings.clone(),
            Duration::from_millis(5),
            shutdown.clone(),
        ));
        let wait = |present: bool| {
            let readings = readings.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while readings.snapshot().contains_key(&bme()) != present {
                    assert!(tokio::time::Instant::now() < deadline, "never {present}");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        wait(true).await;
        healthy.store(false, std::sync::atomic::Ordering::SeqCst);
        wait(false).await;
        healthy.store(true, std::sync::atomic::Ordering::SeqCst);
        wait(true).await;
        shutdown.cancel();
        task.await.unwrap();
    }
}
