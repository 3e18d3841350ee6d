//! Reads the board's health files for [`board`](super::board) and
//! [`storage_health`](super::storage_health): a thermal zone's `temp`
//! (millidegrees), the Pi firmware's `get_throttled` bitmask, and the storage facts
//! (`/proc/mounts`, `/sys/fs/ext4/<dev>/errors_count`, the eMMC's `life_time` and
//! `pre_eol_info`). A file that is absent or unreadable is `None`: unknown, not healthy.
//!
//! Temperature and throttling come from the board hardware module's readers.

use std::path::Path;

use super::storage_health::StorageFacts;
use crate::hardware;

/// The SoC temperature in millidegrees, or `None` when the zone cannot be read.
pub(super) fn read_millicelsius(zone_dir: &Path) -> Option<i64> {
    hardware::thermal::read_millicelsius(zone_dir)
        .ok()
        .map(i64::from)
}

/// The firmware's `get_throttled` bitmask, or `None` when it cannot be read.
pub(super) fn read_throttled(path: &Path) -> Option<u32> {
    hardware::power::read_throttled(path).ok().map(|f| f.0)
}

/// Whether the filesystem mounted at `/` is read-only, from `/proc/mounts` text (the last
/// mount of `/` wins, as it is the one visible).
fn root_read_only(mounts: &str) -> Option<bool> {
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/"))
                .then(|| f.get(3).is_some_and(|o| o.split(',').any(|x| x == "ro")))
        })
        .next_back()
}

/// A `0x..` hex byte as the eMMC attributes print them.
fn hex_byte(text: &str) -> Option<u8> {
    let t = text.trim();
    u8::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok()
}

/// The storage facts under `proc_root` and `sys_root` (`/proc`, `/sys`); the eMMC's are
/// those of `mmcblk0`, the boot device of a Pi-class board.
pub(super) fn read_storage(proc_root: &Path, sys_root: &Path) -> StorageFacts {
    let root_read_only = std::fs::read_to_string(proc_root.join("mounts"))
        .ok()
        .and_then(|m| root_read_only(&m));
    let mut ext4_errors: Vec<(String, u64)> = std::fs::read_dir(sys_root.join("fs/ext4"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let count = std::fs::read_to_string(e.path().join("errors_count")).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                count.trim().parse().ok()?,
            ))
        })
        .collect();
    ext4_errors.sort();
    let device = sys_root.join("block/mmcblk0/device");
    let life_time = std::fs::read_to_string(device.join("life_time"))
        .ok()
        .and_then(|t| {
            let mut parts = t.split_whitespace().map(hex_byte);
            Some((parts.next()??, parts.next()??))
        });
    let pre_eol = std::fs::read_to_string(device.join("pre_eol_info"))
        .ok()
        .and_then(|t| hex_byte(&t));
    StorageFacts {
        root_read_only,
        ext4_errors,
        life_time,
        pre_eol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_and_throttling_files_parse() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_millicelsius(dir.path()), None);
        std::fs::write(dir.path().join("temp"), "48312\n").unwrap();
        assert_eq!(read_millicelsius(dir.path()), Some(48312));
        let f = dir.path().join("get_throttled");
        assert_eq!(read_throttled(&f), None);
        std::fs::write(&f, "50005\n").unwrap();
        assert_eq!(read_throttled(&f), Some(0x50005));
        std::fs::write(&f, "nope\n").unwrap();
        assert_eq!(read_throttled(&f), None);
    }

    #[test]
    fn storage_facts_come_from_fake_proc_and_sys_trees() {
        let dir = tempfile::tempdir().unwrap();
        let (proc_root, sys_root) = (dir.path().join("proc"), dir.path().join("sys"));
        assert_eq!(read_storage(&proc_root, &sys_root), StorageFacts::default());
        std::fs::create_dir_all(&proc_root).unwrap();
        std::fs::write(
            proc_root.join("mounts"),
            "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n/dev/mmcblk0p1 /boot/firmware vfat ro 0 0\n/dev/mmcblk0p2 / ext4 ro,relatime 0 0\n",
        )
        .unwrap();
        for (dev, n) in [("mmcblk0p2", "2\n"), ("sda1", "0\n")] {
            std::fs::create_dir_all(sys_root.join("fs/ext4").join(dev)).unwrap();
            std::fs::write(sys_root.join("fs/ext4").join(dev).join("errors_count"), n).unwrap();
        }
        let mmc = sys_root.join("block/mmcblk0/device");
        std::fs::create_dir_all(&mmc).unwrap();
        std::fs::write(mmc.join("life_time"), "0x02 0x0a\n").unwrap();
        std::fs::write(mmc.join("pre_eol_info"), "0x01\n").unwrap();
        let facts = read_storage(&proc_root, &sys_root);
        assert_eq!(
            facts,
            StorageFacts {
                root_read_only: Some(true),
                ext4_errors: vec![("mmcblk0p2".into(), 2), ("sda1".into(), 0)],
                life_time: Some((2, 10)),
                pre_eol: Some(1),
            }
        );
        assert_eq!(root_read_only("/dev/sda1 /data ext4 ro 0 0\n"), None);
    }
}
