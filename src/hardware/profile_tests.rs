use super::super::board_profile::check;
use super::*;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `(model, compatible, expected id)` as real boards report them.
const BOARDS: &[(&str, &[&str], &str)] = &[
    (
        "Raspberry Pi Zero 2 W Rev 1.0",
        &["raspberrypi,model-zero-2-w", "brcm,bcm2837"],
        "rpi-zero-2w",
    ),
    (
        "Raspberry Pi 3 Model B Plus Rev 1.3",
        &["raspberrypi,3-model-b-plus", "brcm,bcm2837"],
        "rpi3bplus",
    ),
    (
        "Raspberry Pi 4 Model B Rev 1.4",
        &["raspberrypi,4-model-b", "brcm,bcm2711"],
        "rpi4b",
    ),
    (
        "Raspberry Pi 5 Model B Rev 1.0",
        &["raspberrypi,5-model-b", "brcm,bcm2712"],
        "rpi5",
    ),
    (
        "Raspberry Pi Compute Module 4 Rev 1.0",
        &["raspberrypi,4-compute-module", "brcm,bcm2711"],
        "rpi-cm4",
    ),
    (
        "Xunlong Orange Pi 5",
        &["xunlong,orangepi-5", "rockchip,rk3588s"],
        "orangepi5",
    ),
    (
        "Orange Pi 5",
        &["rockchip,rk3588s-orangepi-5", "rockchip,rk3588"],
        "orangepi5",
    ),
    (
        "Radxa ROCK Pi 4B",
        &["radxa,rockpi4b", "radxa,rockpi4", "rockchip,rk3399"],
        "rockpi4",
    ),
];

#[test]
fn every_board_is_recognised_from_its_device_tree() {
    for (model, compatible, id) in BOARDS {
        let p = detect(Some(model), &strings(compatible));
        assert_eq!(&p.id, id, "{model}");
        // compatible strings alone are enough
        assert_eq!(&detect(None, &strings(compatible)).id, id, "{model}");
    }
    // every profile but generic is covered above
    for p in all().iter().filter(|p| p.id != GENERIC_ID) {
        assert!(BOARDS.iter().any(|b| b.2 == p.id), "{} untested", p.id);
    }
}

#[test]
fn the_model_prefix_decides_when_no_compatible_string_is_known() {
    let p = detect(
        Some("Raspberry Pi 4 Model B Rev 1.5"),
        &strings(&["vendor,x"]),
    );
    assert_eq!(p.id, "rpi4b");
    // a SoC alone does not: a Raspberry Pi 500 is no Pi 5 (no fan connector)
    let pi500 = detect(
        Some("Raspberry Pi 500 Rev 1.0"),
        &strings(&["raspberrypi,500", "brcm,bcm2712"]),
    );
    assert_eq!(pi500.id, GENERIC_ID);
    assert_eq!(detect(None, &strings(&["brcm,bcm2711"])).id, GENERIC_ID);
}

#[test]
fn an_unknown_board_gets_the_generic_profile() {
    let p = detect(
        Some("QEMU Virtual Machine"),
        &strings(&["linux,dummy-virt"]),
    );
    assert_eq!(p.id, GENERIC_ID);
    assert_eq!(p.thermal_zone, "/sys/class/thermal/thermal_zone0");
    assert!(p.led.is_none() && p.fan.is_none());
    assert_eq!(detect(None, &[]).id, GENERIC_ID);
}

#[test]
fn built_in_profiles_carry_the_boards_facts() {
    let pi4 = by_id("rpi4b").unwrap();
    assert_eq!(pi4.target, "aarch64-unknown-linux-musl");
    assert_eq!(pi4.led, Some(LedSpec::Sysfs(strings(&["ACT", "led0"]))));
    assert!(pi4.devices.iter().any(|d| d == "/dev/i2c-1"));
    let pi5 = by_id("rpi5").unwrap();
    let fan = pi5.fan.as_ref().unwrap();
    assert!(matches!(&fan.output, FanOutputSpec::Pwm(p) if p.channel == 3));
    assert_eq!(fan.steps[0].on_millicelsius, 50_000);
    assert_eq!(
        by_id("rpi3bplus").unwrap().target,
        "armv7-unknown-linux-musleabihf"
    );
    assert!(check(all()).is_ok());
}

#[test]
fn compatible_file_splits_at_nul() {
    let raw = b"raspberrypi,4-model-b\0brcm,bcm2711\0";
    assert_eq!(
        parse_compatible(raw),
        strings(&["raspberrypi,4-model-b", "brcm,bcm2711"])
    );
}

const GOOD: &str = r#"
id = "testboard"
name = "Test board"
target = "aarch64-unknown-linux-musl"
compatible = ["test,board"]
thermal_zone = "/sys/class/thermal/thermal_zone0"
system_reserved_mib = 128
[fan]
output = { gpio = { chip = "/dev/gpiochip0", line = 14 } }
steps = [{ on_millicelsius = 60000, off_millicelsius = 50000, duty_percent = 100 }]
"#;

fn with_generic(p: BoardProfile) -> Vec<BoardProfile> {
    vec![p, generic()]
}

fn problems(text: &str) -> Vec<String> {
    let p: BoardProfile = toml::from_str(text).unwrap();
    check(&with_generic(p)).err().unwrap_or_default()
}

#[test]
fn the_build_check_accepts_a_good_profile() {
    assert_eq!(problems(GOOD), Vec::<String>::new());
}

#[test]
fn the_build_check_refuses_unknown_keys() {
    let text = GOOD.replace(
        "system_reserved_mib",
        "colour = \"red\"\nsystem_reserved_mib",
    );
    let err = toml::from_str::<BoardProfile>(&text).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let text = GOOD.replace("line = 14", "line = 14, speed = 3");
    assert!(toml::from_str::<BoardProfile>(&text).is_err());
}

#[test]
fn the_build_check_refuses_insane_temperatures() {
    // off above on: no hysteresis
    let p = problems(&GOOD.replace("off_millicelsius = 50000", "off_millicelsius = 61000"));
    assert!(p.iter().any(|m| m.contains("lower")), "{p:?}");
    // degrees where millidegrees are meant
    let p = problems(
        &GOOD
            .replace("on_millicelsius = 60000", "on_millicelsius = 60")
            .replace("off_millicelsius = 50000", "off_millicelsius = 50"),
    );
    assert!(p.iter().any(|m| m.contains("outside")), "{p:?}");
    let p = problems(&GOOD.replace("60000", "200000"));
    assert!(p.iter().any(|m| m.contains("outside")), "{p:?}");
}

#[test]
fn the_build_check_refuses_duplicates_and_a_missing_generic() {
    let p: BoardProfile = toml::from_str(GOOD).unwrap();
    let err = check(&[p.clone(), p.clone(), generic()]).unwrap_err();
    assert!(err.iter().any(|m| m.contains("used twice")), "{err:?}");
    assert!(err.iter().any(|m| m.contains("also claimed")), "{err:?}");
    let err = check(&[p]).unwrap_err();
    assert!(err.iter().any(|m| m.contains("generic")), "{err:?}");
    let p = problems(&GOOD.replace("\"testboard\"", "\"Test Board\""));
    assert!(p.iter().any(|m| m.contains("lowercase")), "{p:?}");
    let p = problems(&GOOD.replace("/sys/class/thermal", "sys/class/thermal"));
    assert!(p.iter().any(|m| m.contains("absolute")), "{p:?}");
}

/// The build script's own code, run on a boards folder of the test's making. It loads
/// `board_profile.rs` a second time, as the build script does: that copy's type is what the
/// encoding side uses, so decoding into the library's type checks they agree.
#[path = "../build_boards.rs"]
#[allow(clippy::duplicate_mod)]
mod build_boards;

#[test]
fn the_build_script_embeds_what_the_library_decodes_and_stops_on_a_bad_profile() {
    let boards = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let generic_toml = "id = \"generic\"\nname = \"Unknown board\"\ntarget = \"aarch64-unknown-linux-musl\"\nthermal_zone = \"/sys/class/thermal/thermal_zone0\"\nsystem_reserved_mib = 256\n";
    std::fs::write(boards.path().join("generic.toml"), generic_toml).unwrap();
    std::fs::write(boards.path().join("test.toml"), GOOD).unwrap();
    std::fs::write(boards.path().join("README.md"), "not a profile").unwrap();
    build_boards::generate(boards.path(), out.path()).unwrap();
    let bytes = std::fs::read(out.path().join("boards.postcard")).unwrap();
    let decoded: Vec<BoardProfile> = postcard::from_bytes(&bytes).unwrap();
    let ids: Vec<&str> = decoded.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["generic", "testboard"]);
    assert!(decoded[1].fan.is_some());

    // an unknown key stops the build, naming the file
    std::fs::write(
        boards.path().join("test.toml"),
        GOOD.replace("id =", "colour = 1\nid ="),
    )
    .unwrap();
    let err = build_boards::generate(boards.path(), out.path()).unwrap_err();
    assert!(err.contains("test.toml") && err.contains("colour"), "{err}");
    // so do insane trip temperatures
    std::fs::write(
        boards.path().join("test.toml"),
        GOOD.replace("50000", "70000"),
    )
    .unwrap();
    let err = build_boards::generate(boards.path(), out.path()).unwrap_err();
    assert!(err.contains("lower"), "{err}");
}
