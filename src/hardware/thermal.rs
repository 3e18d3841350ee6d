//! SoC temperature from a Linux thermal zone (`/sys/class/thermal/thermal_zoneN`): its `temp`
//! file holds one integer in millidegrees Celsius (Documentation/driver-api/thermal/sysfs-api.rst
//! in the kernel), negative below 0 °C.

use std::path::{Path, PathBuf};

/// Reading a thermal zone failed.
#[derive(Debug, thiserror::Error)]
pub enum ThermalError {
    /// The zone's `temp` file could not be read (no such zone, or the sensor is off).
    #[error("reading {path}: {source}")]
    Read {
        /// The file read.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The file held something other than an integer.
    #[error("{path} holds {text:?}, not a temperature in millidegrees")]
    Parse {
        /// The file read.
        path: PathBuf,
        /// What it held (trimmed, at most 32 characters).
        text: String,
    },
}

/// Reads the temperature of the thermal zone at `zone_dir` (for example
/// `/sys/class/thermal/thermal_zone0`) in millidegrees Celsius.
pub fn read_millicelsius(zone_dir: &Path) -> Result<i32, ThermalError> {
    let path = zone_dir.join("temp");
    let text = std::fs::read_to_string(&path).map_err(|source| ThermalError::Read {
        path: path.clone(),
        source,
    })?;
    parse_millicelsius(&text).ok_or_else(|| ThermalError::Parse {
        path,
        text: text.trim().chars().take(32).collect(),
    })
}

/// Parses the text of a thermal zone's `temp` file.
pub fn parse_millicelsius(text: &str) -> Option<i32> {
    text.trim().parse().ok()
}

/// Millidegrees Celsius as degrees, for display and metrics.
pub fn celsius(millicelsius: i32) -> f64 {
    f64::from(millicelsius) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_zone_temperature_in_millidegrees() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("temp"), "48312\n").unwrap();
        assert_eq!(read_millicelsius(dir.path()).unwrap(), 48312);
        std::fs::write(dir.path().join("temp"), "-5000\n").unwrap();
        assert_eq!(read_millicelsius(dir.path()).unwrap(), -5000);
        assert!((celsius(48312) - 48.312).abs() < 1e-9);
    }

    #[test]
    fn a_missing_zone_or_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_millicelsius(dir.path()),
            Err(ThermalError::Read { .. })
        ));
        std::fs::write(dir.path().join("temp"), "hot\n").unwrap();
        let err = read_millicelsius(dir.path()).unwrap_err();
        assert!(matches!(err, ThermalError::Parse { ref text, .. } if text == "hot"));
        std::fs::write(dir.path().join("temp"), "99999999999999\n").unwrap();
        assert!(read_millicelsius(dir.path()).is_err());
    }
}
