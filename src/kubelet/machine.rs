//! Facts about this board that the Node object reports: CPUs, memory, disk, OS, kernel,
//! board model. Parsers take file contents so they are tested without the files.

use std::path::Path;

use crate::monitor::procfs::meminfo_bytes;

/// What the kubelet knows about its machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Machine {
    /// Online CPUs.
    pub cpus: u64,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Size of the filesystem holding the data directory, in bytes.
    pub disk_bytes: u64,
    /// Free bytes on that filesystem.
    pub disk_free_bytes: u64,
    /// `PRETTY_NAME` from os-release.
    pub os_image: String,
    /// Kernel release.
    pub kernel_version: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// Boot id.
    pub boot_id: String,
    /// Board model from the device tree (`Raspberry Pi 4 Model B Rev 1.4`), if any.
    pub board_model: Option<String>,
    /// The id of the board profile the device tree selects (`rpi4b`, `generic`).
    pub board: String,
    /// Memory held back for the system (the board profile's `system_reserved_mib`).
    pub system_reserved_bytes: u64,
}

/// `MemTotal` from /proc/meminfo, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    meminfo_bytes(meminfo, "MemTotal")
}

/// `PRETTY_NAME` from an os-release file.
pub fn parse_os_release(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

/// The device-tree model string (NUL-terminated on disk).
pub fn parse_model(raw: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(raw)
        .trim_end_matches('\0')
        .trim()
        .to_string();
    (!s.is_empty()).then_some(s)
}

/// A label value from free text: label values allow `[A-Za-z0-9._-]`, at most 63
/// characters, starting and ending alphanumeric.
pub fn label_value(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed: String = mapped.chars().take(63).collect();
    trimmed
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

impl Machine {
    /// Reads this machine; `data_dir` decides which filesystem is reported as storage.
    pub fn collect(data_dir: &Path) -> Machine {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let memory_bytes = parse_mem_total(&read("/proc/meminfo")).unwrap_or(0);
        let (disk_bytes, disk_free_bytes) = disk_usage(data_dir).unwrap_or((0, 0));
        let profile = crate::hardware::profile::local();
        Machine {
            cpus,
            memory_bytes,
            disk_bytes,
            disk_free_bytes,
            os_image: parse_os_release(&read("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            board_model: std::fs::read("/proc/device-tree/model")
                .ok()
                .and_then(|m| parse_model(&m)),
            board: profile.id.clone(),
            system_reserved_bytes: u64::from(profile.system_reserved_mib) << 20,
        }
    }
}

/// (total, available) bytes of the filesystem holding `path`.
pub fn disk_usage(path: &Path) -> Option<(u64, u64)> {
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        probe = probe.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meminfo_and_os_release() {
        let meminfo = "MemTotal:        3884328 kB\nMemFree:          123 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(3884328 * 1024));
        let os = "NAME=\"Debian\"\nPRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(os).unwrap(),
            "Raspbian GNU/Linux 12 (bookworm)"
        );
    }

    #[test]
    fn board_model_becomes_a_valid_label_value() {
        let model = parse_model(b"Raspberry Pi 4 Model B Rev 1.4\0").unwrap();
        assert_eq!(model, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(label_value(&model), "Raspberry-Pi-4-Model-B-Rev-1.4");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
        assert_eq!(label_value("  (weird) "), "weird");
    }

    #[test]
    fn disk_usage_walks_up_to_an_existing_dir() {
        let (total, free) = disk_usage(Path::new("/tmp/does/not/exist/yet")).unwrap();
        assert!(total > 0 && free <= total);
    }
}
