//! IANA time zones as Go's `time.LoadLocation` finds them: `UTC` (or empty) built in, `Local`
//! the system's zone, anything else a TZif file under the system's zoneinfo directories.
//! Upstream's CronJob validation and controller both load `spec.timeZone` this way.

use std::io::Read;

/// Where Go looks for zoneinfo files on Unix (`platformZoneSources`), after `$ZONEINFO`.
const ZONEINFO_DIRS: &[&str] = &[
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
];

/// TZif files are a few KB; anything far larger is not one.
const MAX_TZIF_BYTES: u64 = 1 << 20;

/// A time zone could not be loaded; the texts are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A name that could escape the zoneinfo directory.
    #[error("time: invalid location name")]
    InvalidName,
    /// No zoneinfo file of that name.
    #[error("unknown time zone {0}")]
    Unknown(String),
    /// A file that is not valid TZif.
    #[error("malformed time zone information")]
    Malformed,
}

/// A loaded time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone(tz::TimeZone);

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone(tz::TimeZone::utc())
    }

    /// Loads a zone by IANA name, as `time.LoadLocation`.
    pub fn load(name: &str) -> Result<Zone, ZoneError> {
        match name {
            "" | "UTC" => return Ok(Zone::utc()),
            "Local" => {
                return Ok(Zone(
                    tz::TimeZone::local().unwrap_or_else(|_| tz::TimeZone::utc()),
                ))
            }
            _ => {}
        }
        if name.split(['/', '\\']).any(|part| part == "..")
            || name.starts_with('/')
            || name.starts_with('\\')
        {
            return Err(ZoneError::InvalidName);
        }
        let env_dir = std::env::var("ZONEINFO").ok().map(|d| format!("{d}/"));
        let dirs = env_dir
            .iter()
            .map(String::as_str)
            .chain(ZONEINFO_DIRS.iter().copied());
        for dir in dirs {
            let Some(bytes) = read_small(&format!("{dir}{name}")) else {
                continue;
            };
            return tz::TimeZone::from_tz_data(&bytes)
                .map(Zone)
                .map_err(|_| ZoneError::Malformed);
        }
        Err(ZoneError::Unknown(name.to_string()))
    }

    /// The zone's offset from UTC in seconds at `unix` seconds (0 where the zone has none).
    pub fn offset_at(&self, unix: i64) -> i64 {
        self.0
            .find_local_time_type(unix)
            .map_or(0, |t| i64::from(t.ut_offset()))
    }
}

/// A regular file's bytes, if it exists and is small enough to be TZif.
fn read_small(path: &str) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_TZIF_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_load_as_go_does() {
        assert_eq!(Zone::load("UTC").unwrap().offset_at(0), 0);
        let ny = Zone::load("America/New_York").unwrap();
        // 2024-01-15 12:00 UTC is winter (EST), 2024-07-15 summer (EDT).
        assert_eq!(ny.offset_at(1_705_320_000), -5 * 3600);
        assert_eq!(ny.offset_at(1_721_044_800), -4 * 3600);
        assert_eq!(
            Zone::load("Mars/Olympus_Mons").unwrap_err().to_string(),
            "unknown time zone Mars/Olympus_Mons"
        );
        assert_eq!(Zone::load("../etc/passwd"), Err(ZoneError::InvalidName));
        assert_eq!(Zone::load("/etc/passwd"), Err(ZoneError::InvalidName));
        // A directory is no zone.
        assert!(Zone::load("America").is_err());
    }
}
