//! Under-voltage and throttling flags of a Raspberry Pi, as its firmware reports them
//! (`vcgencmd get_throttled`; the kernel's firmware driver shows the same 32-bit word in hex
//! at `/sys/devices/platform/soc/soc:firmware/get_throttled`). The low bits say what holds
//! now, bits 16–19 what has happened since boot; the meanings are the ones the Raspberry Pi
//! documentation gives for `get_throttled`.

use std::path::{Path, PathBuf};

/// The sysfs file holding the firmware's throttle word on Raspberry Pi OS kernels.
pub const PI_GET_THROTTLED: &str = "/sys/devices/platform/soc/soc:firmware/get_throttled";

/// The firmware's `get_throttled` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleFlags(pub u32);

impl ThrottleFlags {
    /// Bit 0: the supply is below 4.63 V now.
    pub const UNDER_VOLTAGE: u32 = 1 << 0;
    /// Bit 1: the ARM core frequency is capped now.
    pub const FREQUENCY_CAPPED: u32 = 1 << 1;
    /// Bit 2: the SoC is throttled now.
    pub const THROTTLED: u32 = 1 << 2;
    /// Bit 3: the soft temperature limit is active now.
    pub const SOFT_TEMP_LIMIT: u32 = 1 << 3;
    /// Bit 16: under-voltage has occurred since boot.
    pub const UNDER_VOLTAGE_OCCURRED: u32 = 1 << 16;
    /// Bit 17: frequency capping has occurred since boot.
    pub const FREQUENCY_CAPPED_OCCURRED: u32 = 1 << 17;
    /// Bit 18: throttling has occurred since boot.
    pub const THROTTLED_OCCURRED: u32 = 1 << 18;
    /// Bit 19: the soft temperature limit has been reached since boot.
    pub const SOFT_TEMP_LIMIT_OCCURRED: u32 = 1 << 19;

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// The supply is too low now.
    pub fn under_voltage(self) -> bool {
        self.has(Self::UNDER_VOLTAGE)
    }
    /// The supply has been too low since boot.
    pub fn under_voltage_occurred(self) -> bool {
        self.has(Self::UNDER_VOLTAGE_OCCURRED)
    }
    /// The ARM frequency is capped now.
    pub fn frequency_capped(self) -> bool {
        self.has(Self::FREQUENCY_CAPPED)
    }
    /// The ARM frequency has been capped since boot.
    pub fn frequency_capped_occurred(self) -> bool {
        self.has(Self::FREQUENCY_CAPPED_OCCURRED)
    }
    /// The SoC is throttled now.
    pub fn throttled(self) -> bool {
        self.has(Self::THROTTLED)
    }
    /// The SoC has been throttled since boot.
    pub fn throttled_occurred(self) -> bool {
        self.has(Self::THROTTLED_OCCURRED)
    }
    /// The soft temperature limit is active now.
    pub fn soft_temp_limit(self) -> bool {
        self.has(Self::SOFT_TEMP_LIMIT)
    }
    /// The soft temperature limit has been reached since boot.
    pub fn soft_temp_limit_occurred(self) -> bool {
        self.has(Self::SOFT_TEMP_LIMIT_OCCURRED)
    }
    /// Anything that holds now (bits 0–3).
    pub fn any_now(self) -> bool {
        self.0 & 0xf != 0
    }
}

/// Reading the throttle word failed.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    /// The file could not be read (not a Pi, or a kernel without the firmware driver).
    #[error("reading {path}: {source}")]
    Read {
        /// The file read.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The file held something other than a hexadecimal word.
    #[error("{path} holds {text:?}, not a throttle word")]
    Parse {
        /// The file read.
        path: PathBuf,
        /// What it held (trimmed, at most 32 characters).
        text: String,
    },
}

/// Reads the throttle word from `path` (normally [`PI_GET_THROTTLED`]).
pub fn read_throttled(path: &Path) -> Result<ThrottleFlags, PowerError> {
    let text = std::fs::read_to_string(path).map_err(|source| PowerError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_throttled(&text).ok_or_else(|| PowerError::Parse {
        path: path.to_path_buf(),
        text: text.trim().chars().take(32).collect(),
    })
}

/// Parses the word as the kernel prints it (`50005`), or as `vcgencmd` does
/// (`throttled=0x50005`).
pub fn parse_throttled(text: &str) -> Option<ThrottleFlags> {
    let text = text.trim();
    let text = text.strip_prefix("throttled=").unwrap_or(text);
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u32::from_str_radix(hex, 16).ok().map(ThrottleFlags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firmware_bits_mean_what_the_pi_documentation_says() {
        // 0x50005: under-voltage and throttled now, and both have occurred
        let f = parse_throttled("50005\n").unwrap();
        assert!(f.under_voltage() && f.throttled() && f.any_now());
        assert!(f.under_voltage_occurred() && f.throttled_occurred());
        assert!(!f.frequency_capped() && !f.soft_temp_limit());
        // 0x80008: soft temperature limit now and since boot
        let f = parse_throttled("throttled=0x80008").unwrap();
        assert!(f.soft_temp_limit() && f.soft_temp_limit_occurred());
        assert!(!f.under_voltage());
        // 0x20000: capped once, nothing now
        let f = parse_throttled("0x20000").unwrap();
        assert!(f.frequency_capped_occurred() && !f.any_now());
        assert_eq!(parse_throttled("0"), Some(ThrottleFlags(0)));
    }

    #[test]
    fn reads_the_sysfs_file_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("get_throttled");
        assert!(matches!(
            read_throttled(&path),
            Err(PowerError::Read { .. })
        ));
        std::fs::write(&path, "50000\n").unwrap();
        let f = read_throttled(&path).unwrap();
        assert!(f.under_voltage_occurred() && !f.under_voltage());
        std::fs::write(&path, "zz\n").unwrap();
        assert!(matches!(
            read_throttled(&path),
            Err(PowerError::Parse { .. })
        ));
        std::fs::write(&path, "123456789\n").unwrap();
        assert!(read_throttled(&path).is_err());
    }
}
