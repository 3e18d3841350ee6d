//! The board: which built-in profile the device tree selects and what of it this machine
//! has (status LED, fan, device nodes), the SoC temperature from the profile's thermal zone,
//! and the firmware's under-voltage and throttling flags where the board has them. An
//! under-voltage is the usual cause of a Raspberry Pi that corrupts its SD card or resets
//! under load.

use std::path::Path;

use super::Outcome;
use crate::hardware::board_profile::{BoardProfile, FanOutputSpec, LedSpec};
use crate::hardware::power::{self, ThrottleFlags};
use crate::hardware::{profile, sysfs_led, thermal};

/// From this SoC temperature on, a Raspberry Pi lowers its clock (soft limit 80 °C, hard 85).
const HOT_MILLICELSIUS: i32 = 80_000;

/// The profile and its hardware on this machine; the SoC temperature; the power flags.
pub fn check() -> Vec<Outcome> {
    let p = profile::local();
    let led = match &p.led {
        Some(LedSpec::Sysfs(names)) => names
            .iter()
            .find(|n| {
                Path::new(sysfs_led::LEDS_ROOT)
                    .join(n)
                    .join("brightness")
                    .exists()
            })
            .cloned(),
        Some(LedSpec::Gpio(line)) => Path::new(&line.chip)
            .exists()
            .then(|| format!("{} line {}", line.chip, line.line)),
        None => None,
    };
    let present: Vec<&str> = p
        .devices
        .iter()
        .map(String::as_str)
        .filter(|d| Path::new(d).exists())
        .collect();
    let temperature = thermal::read_millicelsius(Path::new(&p.thermal_zone)).ok();
    let throttle = p
        .throttled_file
        .as_deref()
        .map(|f| power::read_throttled(Path::new(f)).ok());
    vec![
        describe(p, led.as_deref(), &present),
        temperature_from(&p.thermal_zone, temperature),
        power_from(throttle),
    ]
}

fn fan_text(p: &BoardProfile) -> String {
    let Some(fan) = &p.fan else {
        return "none".into();
    };
    let output = match &fan.output {
        FanOutputSpec::Gpio(l) => format!("GPIO {} line {}", l.chip, l.line),
        FanOutputSpec::Pwm(c) => format!("PWM {} channel {}", c.chip, c.channel),
    };
    match fan.steps.first() {
        Some(s) => format!(
            "{output}, {} step(s) from {:.1} °C",
            fan.steps.len(),
            thermal::celsius(s.on_millicelsius)
        ),
        None => output,
    }
}

/// The profile line: id, name, LED found (`None`: none of the profile's), fan, thermal
/// zone, throttle source and the profile's devices this machine has.
pub fn describe(p: &BoardProfile, led: Option<&str>, present: &[&str]) -> Outcome {
    let led = match (&p.led, led) {
        (None, _) => "none".to_string(),
        (Some(_), Some(found)) => found.to_string(),
        (Some(_), None) => "absent".to_string(),
    };
    let missing: Vec<&str> = p
        .devices
        .iter()
        .map(String::as_str)
        .filter(|d| !present.contains(d))
        .collect();
    let mut detail = format!(
        "{} ({}); LED {led}; fan {}; thermal {}; throttle {}; devices {}",
        p.id,
        p.name,
        fan_text(p),
        p.thermal_zone,
        p.throttled_file.as_deref().unwrap_or("none"),
        if present.is_empty() {
            "none".to_string()
        } else {
            present.join(" ")
        },
    );
    if !missing.is_empty() {
        detail.push_str(&format!(" (absent: {})", missing.join(" ")));
    }
    Outcome::ok("board", detail)
}

/// The SoC temperature line (`None`: the zone could not be read).
pub fn temperature_from(zone: &str, millicelsius: Option<i32>) -> Outcome {
    match millicelsius {
        None => Outcome::ok("soc temperature", format!("{zone} unreadable")),
        Some(t) if t >= HOT_MILLICELSIUS => Outcome::warn(
            "soc temperature",
            format!("{:.1} °C: the SoC is throttling", thermal::celsius(t)),
            "add a heatsink or fan, or give the board more air",
        ),
        Some(t) => Outcome::ok("soc temperature", format!("{:.1} °C", thermal::celsius(t))),
    }
}

/// The power line: `None` when the board has no throttle word, `Some(None)` when it could
/// not be read.
pub fn power_from(flags: Option<Option<ThrottleFlags>>) -> Outcome {
    const FIX: &str = "use a supply that holds 5.1 V under load (the official one for this board) and a short, thick cable";
    let Some(flags) = flags else {
        return Outcome::ok("power", "no throttle flags on this board");
    };
    let Some(f) = flags else {
        return Outcome::ok("power", "throttle flags unreadable");
    };
    if f.under_voltage() {
        return Outcome::fail("power", format!("under-voltage now ({:#x})", f.0), FIX);
    }
    if f.under_voltage_occurred() {
        return Outcome::warn(
            "power",
            format!("under-voltage occurred since boot ({:#x})", f.0),
            FIX,
        );
    }
    if f.throttled() || f.frequency_capped() || f.soft_temp_limit() {
        return Outcome::warn(
            "power",
            format!("throttled or capped now ({:#x})", f.0),
            "cool the board: heatsink, fan or airflow",
        );
    }
    Outcome::ok("power", format!("no under-voltage ({:#x})", f.0))
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    #[test]
    fn the_board_line_names_the_profile_and_what_is_there() {
        let p = profile::by_id("rpi5").unwrap();
        let o = describe(p, Some("ACT"), &["/dev/i2c-1", "/dev/gpiochip0"]);
        assert_eq!(o.status, Status::Ok);
        assert!(o.detail.starts_with("rpi5 (Raspberry Pi 5); LED ACT; fan PWM 1f0009c000.pwm channel 3, 4 step(s) from 50.0 °C; thermal /sys/class/thermal/thermal_zone0; throttle /sys/devices/platform/soc/soc:firmware/get_throttled; devices /dev/i2c-1 /dev/gpiochip0"), "{}", o.detail);
        assert!(o.detail.contains("absent: /dev/spidev0.0"), "{}", o.detail);
        let generic = profile::generic();
        let o = describe(&generic, None, &[]);
        assert!(
            o.detail
                .starts_with("generic (Unknown board); LED none; fan none"),
            "{}",
            o.detail
        );
    }

    #[test]
    fn a_hot_soc_warns() {
        assert_eq!(temperature_from("z", Some(48_312)).detail, "48.3 °C");
        assert_eq!(temperature_from("z", Some(85_000)).status, Status::Warn);
        assert_eq!(temperature_from("z", None).status, Status::Ok);
    }

    #[test]
    fn under_voltage_fails_now_and_warns_after() {
        assert_eq!(
            power_from(Some(Some(ThrottleFlags(0x50005)))).status,
            Status::Fail
        );
        assert_eq!(
            power_from(Some(Some(ThrottleFlags(0x50000)))).status,
            Status::Warn
        );
        assert_eq!(
            power_from(Some(Some(ThrottleFlags(0x80008)))).status,
            Status::Warn
        );
        assert_eq!(power_from(Some(Some(ThrottleFlags(0)))).status, Status::Ok);
        assert_eq!(power_from(None).status, Status::Ok);
    }
}
