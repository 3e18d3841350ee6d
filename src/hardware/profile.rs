//! The board profiles built into the binary (`boards/*.toml`, checked and encoded by the build
//! script) and the choice of the one describing this machine from its device tree:
//! `/proc/device-tree/compatible` first, most specific string first as the device-tree
//! specification orders them, then the `/proc/device-tree/model` prefix; anything else gets
//! the `generic` profile. A SoC alone never selects a board: the Raspberry Pi 500 and the
//! Compute Module 5 share the Pi 5's BCM2712 but not its fan connector.

use std::sync::OnceLock;

pub use super::board_profile::{
    BoardProfile, FanOutputSpec, FanSpec, FanStep, GpioLine, LedSpec, PwmChannel, GENERIC_ID,
};

/// The profiles as the build script wrote them.
static ENCODED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/boards.postcard"));

/// Where the device tree tells the board's model.
pub const MODEL_PATH: &str = "/proc/device-tree/model";
/// Where the device tree lists the strings the board is compatible with.
pub const COMPATIBLE_PATH: &str = "/proc/device-tree/compatible";

/// Every built-in profile, `generic` included.
pub fn all() -> &'static [BoardProfile] {
    static PROFILES: OnceLock<Vec<BoardProfile>> = OnceLock::new();
    PROFILES.get_or_init(|| match postcard::from_bytes(ENCODED) {
        Ok(profiles) => profiles,
        Err(e) => {
            // the build script encoded these with the same struct; this is a build fault
            tracing::error!(error = %e, "the built-in board profiles do not decode");
            vec![fallback_generic()]
        }
    })
}

/// The profile with this id.
pub fn by_id(id: &str) -> Option<&'static BoardProfile> {
    all().iter().find(|p| p.id == id)
}

/// The profile for boards nothing else recognises.
pub fn generic() -> BoardProfile {
    by_id(GENERIC_ID).cloned().unwrap_or_else(fallback_generic)
}

fn fallback_generic() -> BoardProfile {
    BoardProfile {
        id: GENERIC_ID.into(),
        name: "Unknown board".into(),
        target: "aarch64-unknown-linux-musl".into(),
        model_prefixes: Vec::new(),
        compatible: Vec::new(),
        soc: None,
        led: None,
        fan: None,
        thermal_zone: "/sys/class/thermal/thermal_zone0".into(),
        throttled_file: None,
        devices: Vec::new(),
        system_reserved_mib: 256,
    }
}

/// Picks the profile for a board whose device tree says `model` and `compatible` (the
/// strings of `/proc/device-tree/compatible`, most specific first).
pub fn detect(model: Option<&str>, compatible: &[String]) -> BoardProfile {
    detect_in(all(), model, compatible).unwrap_or_else(generic)
}

fn detect_in(
    profiles: &[BoardProfile],
    model: Option<&str>,
    compatible: &[String],
) -> Option<BoardProfile> {
    let known = || profiles.iter().filter(|p| p.id != GENERIC_ID);
    let by_compatible = compatible
        .iter()
        .find_map(|c| known().find(|p| p.compatible.iter().any(|pc| pc == c)));
    let by_model = || {
        let model = model?.trim();
        // the longest prefix wins, so "Orange Pi 5" never shadows a longer name
        known()
            .flat_map(|p| p.model_prefixes.iter().map(move |m| (m, p)))
            .filter(|(m, _)| model.starts_with(m.as_str()))
            .max_by_key(|(m, _)| m.len())
            .map(|(_, p)| p)
    };
    by_compatible.or_else(by_model).cloned()
}

/// The strings of `/proc/device-tree/compatible` (NUL-separated on disk).
pub fn parse_compatible(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The profile of this machine, from its device tree, read once: the device tree does not
/// change while the board runs, and the kubelet asks at every status update.
pub fn local() -> &'static BoardProfile {
    static LOCAL: OnceLock<BoardProfile> = OnceLock::new();
    LOCAL.get_or_init(detect_local)
}

/// The profile of this machine, read from its device tree now.
fn detect_local() -> BoardProfile {
    let model = std::fs::read(MODEL_PATH).ok().map(|raw| {
        String::from_utf8_lossy(&raw)
            .trim_end_matches('\0')
            .to_string()
    });
    let compatible = std::fs::read(COMPATIBLE_PATH)
        .map(|raw| parse_compatible(&raw))
        .unwrap_or_default();
    detect(model.as_deref(), &compatible)
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
