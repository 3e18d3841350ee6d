//! A fan on a sysfs PWM channel (Documentation/ABI/testing/sysfs-class-pwm): the channel is
//! exported through the chip's `export`, given its `period`, then its `duty_cycle` (both in
//! nanoseconds) and `enable`d. The chip is named as `pwmchipN` or by the device behind it,
//! since chip numbers follow probe order. A channel the kernel already uses (the Raspberry
//! Pi 5's `pwm-fan` driver holds the fan's) cannot be exported: opening fails and the kernel
//! keeps control.

use std::path::{Path, PathBuf};

use super::board_profile::PwmChannel;
use super::fan::{FanDrive, FanError};

/// Where the kernel lists PWM chips.
pub const PWM_ROOT: &str = "/sys/class/pwm";

/// An exported PWM channel driving a fan.
#[derive(Debug)]
pub struct PwmFan {
    dir: PathBuf,
    period_ns: u32,
    inverted: bool,
    duty: Option<u8>,
}

fn write(path: PathBuf, value: impl AsRef<[u8]>) -> Result<(), FanError> {
    std::fs::write(&path, value).map_err(|source| FanError::Sysfs { path, source })
}

/// The directory of the chip called `name` under `root`.
pub fn find_chip(root: &Path, name: &str) -> Result<PathBuf, FanError> {
    if name.starts_with("pwmchip") {
        let dir = root.join(name);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(FanError::NoChip(name.into()))
        };
    }
    let entries = std::fs::read_dir(root).map_err(|source| FanError::Sysfs {
        path: root.to_path_buf(),
        source,
    })?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|chip| {
            std::fs::read_link(chip.join("device"))
                .ok()
                .and_then(|target| target.file_name().map(|f| f == name))
                .unwrap_or(false)
        })
        .ok_or_else(|| FanError::NoChip(name.into()))
}

/// The duty cycle in nanoseconds for `percent` of `period_ns`.
pub fn duty_ns(period_ns: u32, percent: u8, inverted: bool) -> u32 {
    let percent = u64::from(percent.min(100));
    let on = u64::from(period_ns) * percent / 100;
    let ns = if inverted {
        u64::from(period_ns).saturating_sub(on)
    } else {
        on
    };
    u32::try_from(ns).unwrap_or(period_ns)
}

impl PwmFan {
    /// Exports `channel` of its chip under `root` (normally [`PWM_ROOT`]) and sets its period.
    pub fn open(root: &Path, channel: &PwmChannel) -> Result<Self, FanError> {
        let chip = find_chip(root, &channel.chip)?;
        let dir = chip.join(format!("pwm{}", channel.channel));
        if !dir.exists() {
            write(chip.join("export"), channel.channel.to_string())?;
        }
        write(dir.join("period"), channel.period_ns.to_string())?;
        Ok(Self {
            dir,
            period_ns: channel.period_ns,
            inverted: channel.inverted,
            duty: None,
        })
    }
}

impl FanDrive for PwmFan {
    fn set_duty(&mut self, percent: u8) -> Result<(), FanError> {
        if self.duty == Some(percent) {
            return Ok(());
        }
        let ns = duty_ns(self.period_ns, percent, self.inverted);
        write(self.dir.join("duty_cycle"), ns.to_string())?;
        write(self.dir.join("enable"), "1")?;
        self.duty = Some(percent);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn finds_the_chip_by_its_device_and_sets_the_duty() {
        let root = tempfile::tempdir().unwrap();
        let chip = root.path().join("pwmchip2");
        // an exported channel, as the kernel creates on `export`
        std::fs::create_dir_all(chip.join("pwm3")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/platform/axi/1f0009c000.pwm",
            chip.join("device"),
        )
        .unwrap();
        let spec = PwmChannel {
            chip: "1f0009c000.pwm".into(),
            channel: 3,
            period_ns: 41566,
            inverted: true,
        };
        let mut fan = PwmFan::open(root.path(), &spec).unwrap();
        assert_eq!(read(chip.join("pwm3/period")), "41566");
        fan.set_duty(49).unwrap();
        // inverted: 49 % running is 51 % of the period high
        assert_eq!(read(chip.join("pwm3/duty_cycle")), "21199");
        assert_eq!(read(chip.join("pwm3/enable")), "1");
        fan.set_duty(0).unwrap();
        assert_eq!(read(chip.join("pwm3/duty_cycle")), "41566");
    }

    #[test]
    fn a_missing_chip_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let spec = PwmChannel {
            chip: "pwmchip9".into(),
            channel: 0,
            period_ns: 40000,
            inverted: false,
        };
        assert!(matches!(
            PwmFan::open(root.path(), &spec),
            Err(FanError::NoChip(_))
        ));
    }

    #[test]
    fn duty_in_nanoseconds() {
        assert_eq!(duty_ns(40_000, 25, false), 10_000);
        assert_eq!(duty_ns(40_000, 100, true), 0);
        assert_eq!(duty_ns(u32::MAX, 200, false), u32::MAX);
    }
}
