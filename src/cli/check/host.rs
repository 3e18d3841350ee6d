//! Disk and memory of the host: free space where images and the store live (an SD card
//! fills quickly), and swap, which the kubelet's memory accounting does not expect.

use std::path::Path;

use super::Outcome;

/// Below this much free space image pulls fail outright.
const FAIL_BELOW_BYTES: u64 = 1 << 30;

/// Usage at which image garbage collection starts (the server's default
/// `--image-gc-high-threshold`); above it the board is already deleting images.
const WARN_AT_PERCENT: u64 = 85;

/// Free space of the filesystem holding `data_dir` (or of its nearest existing parent, before
/// the first start).
pub fn disk(data_dir: &Path) -> Outcome {
    let mut dir = data_dir;
    while !dir.exists() {
        dir = dir.parent().unwrap_or(Path::new("/"));
    }
    match nix::sys::statvfs::statvfs(dir) {
        // the field types are 32-bit on armv6/armv7 and 64-bit here
        #[allow(clippy::unnecessary_cast)]
        Ok(s) => {
            let block = s.fragment_size() as u64;
            disk_from(
                dir,
                s.blocks_available() as u64 * block,
                s.blocks() as u64 * block,
            )
        }
        Err(e) => Outcome::fail(
            "free disk",
            format!("cannot statvfs {}: {e}", dir.display()),
            "pass --data-dir pointing at an existing filesystem",
        ),
    }
}

/// Judges `available` of `total` bytes on the filesystem of `dir`.
pub fn disk_from(dir: &Path, available: u64, total: u64) -> Outcome {
    const NAME: &str = "free disk";
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    let used_percent = (available * 100)
        .checked_div(total)
        .map_or(100, |free| 100 - free);
    let detail = format!(
        "{:.1} GiB free of {:.1} GiB on {} ({used_percent}% used)",
        gib(available),
        gib(total),
        dir.display()
    );
    if available < FAIL_BELOW_BYTES {
        Outcome::fail(
            NAME,
            detail,
            "free at least 1 GiB (sudo apt clean; remove unused images) or use a larger SD card",
        )
    } else if used_percent >= WARN_AT_PERCENT {
        Outcome::warn(
            NAME,
            detail,
            "free space: image garbage collection starts at 85% used",
        )
    } else {
        Outcome::ok(NAME, detail)
    }
}

/// Swap, from `/proc/swaps`.
pub fn swap() -> Outcome {
    swap_from(&std::fs::read_to_string("/proc/swaps").unwrap_or_default())
}

/// Judges `/proc/swaps`. Swap makes memory limits soft and OOM kills late, which is why the
/// kubelet refuses to start with it by default (`failSwapOn`); Bramble warns instead, since
/// on a 512 MiB board the operator may want it.
pub fn swap_from(proc_swaps: &str) -> Outcome {
    const NAME: &str = "swap";
    let devices: Vec<&str> = proc_swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if devices.is_empty() {
        return Outcome::ok(NAME, "off");
    }
    let fix = if devices.iter().any(|d| d.contains("zram")) {
        "sudo swapoff -a and disable the zram swap service (e.g. sudo systemctl mask systemd-zram-setup@zram0)"
    } else {
        "sudo dphys-swapfile swapoff && sudo systemctl disable dphys-swapfile (Raspberry Pi OS), or swapoff -a and remove swap from /etc/fstab"
    };
    Outcome::warn(
        NAME,
        format!(
            "on ({}): memory limits are not enforced on swapped pages",
            devices.join(", ")
        ),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn full_sd_card_fails_and_nearly_full_warns() {
        let root = Path::new("/");
        assert_eq!(disk_from(root, GIB / 2, 16 * GIB).status, Status::Fail);
        assert_eq!(disk_from(root, 2 * GIB, 16 * GIB).status, Status::Warn);
        let ok = disk_from(root, 10 * GIB, 16 * GIB);
        assert_eq!(ok.status, Status::Ok);
        assert!(
            ok.detail.contains("10.0 GiB free of 16.0 GiB"),
            "{}",
            ok.detail
        );
    }

    #[test]
    fn pi_os_swap_file_warns_with_dphys_fix() {
        let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/var/swap                               file\t\t102396\t\t0\t\t-2\n";
        let o = swap_from(swaps);
        assert_eq!(o.status, Status::Warn);
        assert!(o.detail.contains("/var/swap"));
        assert!(o.fix.unwrap().contains("dphys-swapfile"));
        let header_only = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert_eq!(swap_from(header_only).status, Status::Ok);
        let zram = format!("{header_only}/dev/zram0 partition 1048572 0 100\n");
        assert!(swap_from(&zram).fix.unwrap().contains("zram"));
    }
}
