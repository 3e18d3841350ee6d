//! The board itself: its profile (`boards/*.toml`, embedded at build time), status LED, fan,
//! environmental sensors, SoC temperature and power flags, written against the
//! `embedded-hal` 1.0 traits and run on `linux-embedded-hal` (GPIO character device, I2C)
//! and sysfs on a board.

pub mod bme280;
pub mod board_profile;
pub mod fan;
pub mod fan_pwm;
pub mod led;
pub mod power;
pub mod profile;
pub mod sensor;
pub mod sht3x;
pub mod status_light;
pub mod sysfs_led;
pub mod thermal;
