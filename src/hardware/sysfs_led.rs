//! A kernel LED (`/sys/class/leds/<name>`, Documentation/leds/leds-class.rst): bramble sets
//! its `trigger` to `none` so the kernel stops driving it (Raspberry Pi OS blinks `ACT` on SD
//! card access), writes `brightness`, and puts the trigger that was active back when dropped.

use std::path::{Path, PathBuf};

use super::led::{Led, LedError};

/// Where the kernel lists its LEDs.
pub const LEDS_ROOT: &str = "/sys/class/leds";

/// A kernel LED held by bramble.
#[derive(Debug)]
pub struct SysfsLed {
    dir: PathBuf,
    max_brightness: String,
    previous_trigger: Option<String>,
}

/// The active trigger in the text of a `trigger` file: the word in brackets.
pub fn active_trigger(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
}

fn io_error(path: PathBuf) -> impl FnOnce(std::io::Error) -> LedError {
    move |source| LedError::Sysfs { path, source }
}

impl SysfsLed {
    /// Takes the first of `names` present under `root` (normally [`LEDS_ROOT`]); `None` when
    /// there is none.
    pub fn open_first(root: &Path, names: &[String]) -> Option<Result<Self, LedError>> {
        names
            .iter()
            .map(|n| root.join(n))
            .find(|dir| dir.join("brightness").exists())
            .map(|dir| Self::open(&dir))
    }

    /// Takes the LED at `dir`: remembers its trigger and sets `none`.
    pub fn open(dir: &Path) -> Result<Self, LedError> {
        let trigger_path = dir.join("trigger");
        let previous_trigger = std::fs::read_to_string(&trigger_path)
            .ok()
            .and_then(|t| active_trigger(&t).map(str::to_string));
        std::fs::write(&trigger_path, "none").map_err(io_error(trigger_path))?;
        let max_brightness = std::fs::read_to_string(dir.join("max_brightness"))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| t.parse::<u32>().is_ok_and(|v| v > 0))
            .unwrap_or_else(|| "1".into());
        Ok(Self {
            dir: dir.to_path_buf(),
            max_brightness,
            previous_trigger,
        })
    }

    /// The LED's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Led for SysfsLed {
    fn set(&mut self, on: bool) -> Result<(), LedError> {
        let path = self.dir.join("brightness");
        let value = if on {
            self.max_brightness.as_str()
        } else {
            "0"
        };
        std::fs::write(&path, value).map_err(io_error(path))
    }
}

impl Drop for SysfsLed {
    fn drop(&mut self) {
        if let Some(trigger) = &self.previous_trigger {
            let path = self.dir.join("trigger");
            if let Err(e) = std::fs::write(&path, trigger) {
                tracing::debug!(path = %path.display(), error = %e, "restoring the LED trigger");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_led(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("trigger"), "none timer [mmc0] heartbeat\n").unwrap();
        std::fs::write(dir.join("brightness"), "0\n").unwrap();
        std::fs::write(dir.join("max_brightness"), "255\n").unwrap();
        dir
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn takes_the_led_from_its_trigger_and_gives_it_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_led(root.path(), "ACT");
        let names = vec!["led0".to_string(), "ACT".to_string()];
        let mut led = SysfsLed::open_first(root.path(), &names).unwrap().unwrap();
        assert_eq!(led.dir(), dir);
        assert_eq!(read(dir.join("trigger")), "none");
        led.set(true).unwrap();
        assert_eq!(read(dir.join("brightness")), "255");
        led.set(false).unwrap();
        assert_eq!(read(dir.join("brightness")), "0");
        drop(led);
        assert_eq!(read(dir.join("trigger")), "mmc0");
    }

    #[test]
    fn no_led_of_those_names_is_none() {
        let root = tempfile::tempdir().unwrap();
        fake_led(root.path(), "PWR");
        assert!(SysfsLed::open_first(root.path(), &["ACT".to_string()]).is_none());
    }

    #[test]
    fn reads_the_active_trigger() {
        assert_eq!(active_trigger("none [timer] mmc0"), Some("timer"));
        assert_eq!(active_trigger("[none] timer"), Some("none"));
        assert_eq!(active_trigger("none timer"), None);
    }
}
