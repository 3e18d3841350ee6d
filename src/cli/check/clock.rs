//! Clock sanity. A Raspberry Pi has no real-time clock: until NTP answers it boots with
//! the time it last saved (fake-hwclock) or 1970, and TLS then sees every certificate as not
//! yet valid. Without the network, the lower bounds at hand are when this binary was built
//! and when the cluster CA was created.

use std::path::Path;

use chrono::DateTime;

use super::Outcome;

const NAME: &str = "clock";

/// When this binary was built (seconds since the epoch), stamped by the build script.
const BUILT: &str = env!("BRAMBLE_BUILD_EPOCH");

/// Further after the build than this, the clock is more likely wrong than the binary old.
const PLAUSIBLE_AFTER_BUILD_SECS: i64 = 10 * 365 * 24 * 3600;

const FIX: &str = "a Pi has no RTC: sudo timedatectl set-ntp true and wait for the network, or set it by hand: sudo date -s 'YYYY-MM-DD HH:MM'";

/// Reads the clock, the CA in `data_dir` and systemd-timesyncd's state.
pub fn check(data_dir: &Path) -> Outcome {
    let now = chrono::Utc::now().timestamp();
    let built = BUILT.parse().unwrap_or(0);
    let ca = std::fs::read(data_dir.join("pki").join(crate::pki::CA_CERT_FILE))
        .ok()
        .and_then(|pem| not_before(&pem));
    // timesyncd marks a successful sync with this file; without the directory it is not in use
    let timesync = Path::new("/run/systemd/timesync");
    let synced = timesync
        .is_dir()
        .then(|| timesync.join("synchronized").exists());
    clock_from(now, built, ca, synced)
}

/// The `notBefore` of a PEM certificate.
fn not_before(pem: &[u8]) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_before.timestamp())
}

fn show(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0).map_or_else(
        || format!("{secs} s"),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// Judges the time `now` against the build time, the cluster CA's `notBefore` and whether
/// timesyncd has synchronised (`None`: not in use).
pub fn clock_from(
    now: i64,
    built: i64,
    ca_not_before: Option<i64>,
    synced: Option<bool>,
) -> Outcome {
    if now < built {
        return Outcome::fail(
            NAME,
            format!(
                "{} is before this binary was built ({}): TLS certificates look not yet valid",
                show(now),
                show(built)
            ),
            FIX,
        );
    }
    if let Some(ca) = ca_not_before.filter(|ca| now < *ca) {
        return Outcome::fail(
            NAME,
            format!(
                "{} is before the cluster CA became valid ({}): TLS fails",
                show(now),
                show(ca)
            ),
            FIX,
        );
    }
    if now - built > PLAUSIBLE_AFTER_BUILD_SECS {
        return Outcome::warn(
            NAME,
            format!(
                "{} is more than ten years after this build ({})",
                show(now),
                show(built)
            ),
            FIX,
        );
    }
    if synced == Some(false) {
        return Outcome::warn(
            NAME,
            format!("{}, not yet synchronised by systemd-timesyncd", show(now)),
            "check the network and `timedatectl timesync-status`; start Bramble once the clock is synchronised",
        );
    }
    Outcome::ok(NAME, format!("{} (built {})", show(now), show(built)))
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    const BUILD: i64 = 1_795_000_000; // 2026-11-18

    #[test]
    fn pi_booted_without_network_at_the_epoch_fails() {
        let o = clock_from(0, BUILD, None, Some(false));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.detail
                .starts_with("1970-01-01 00:00 UTC is before this binary was built"),
            "{}",
            o.detail
        );
        assert!(o.fix.unwrap().contains("timedatectl set-ntp true"));
    }

    #[test]
    fn clock_behind_the_cluster_ca_fails() {
        let o = clock_from(BUILD + 100, BUILD, Some(BUILD + 86_400), None);
        assert_eq!(o.status, Status::Fail);
        assert!(o.detail.contains("cluster CA"));
    }

    #[test]
    fn unsynchronised_or_implausible_clocks_warn_and_a_good_one_passes() {
        assert_eq!(
            clock_from(BUILD + 60, BUILD, None, Some(false)).status,
            Status::Warn
        );
        assert_eq!(
            clock_from(BUILD + 11 * 365 * 86_400, BUILD, None, None).status,
            Status::Warn
        );
        assert_eq!(
            clock_from(BUILD + 60, BUILD, Some(BUILD), Some(true)).status,
            Status::Ok
        );
    }
}
