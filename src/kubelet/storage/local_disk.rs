//! `bramble.io/local-disk`: volumes whose size is enforced because each is its own ext4
//! filesystem — in a preallocated image file loop-mounted on the node, or on a whole block
//! device the administrator listed — so writing past the claim's size fails with ENOSPC.
//!
//! Layout under the root: `images/<name>.img` (image files), `devices/<name>` (the device a
//! volume owns, one path per file) and `mounts/<name>` (where each volume is mounted; pods
//! bind-mount this directory). Loop devices come from util-linux `mount -o loop`, which sets
//! them to detach when unmounted, so no loop device outlives its mount. A listed device is
//! formatted only when it holds no filesystem or one labelled [`DEVICE_LABEL`]: a disk with
//! someone else's data on it is refused, never reformatted.

use std::fs::{self, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::command::{run, run_accepting};
use super::{check_name, StorageError};
use crate::kubelet::machine::disk_usage;
use crate::kubelet::volume::{is_mount_point, unmount};

/// How far an expansion got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// The filesystem has the new size.
    Done,
    /// The space is reserved; the filesystem grows when no running pod uses the volume.
    PendingRestart,
}

/// The ext4 label Bramble puts on devices it formats (at most 16 bytes).
pub const DEVICE_LABEL: &str = "bramble-disk";

/// Size-enforced volumes under one root.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    root: PathBuf,
    devices: Vec<PathBuf>,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

impl LocalDisk {
    /// Volumes under `root`, plus whole `devices` the administrator listed.
    pub fn new(root: &Path, devices: Vec<PathBuf>) -> Self {
        // Mount points in /proc/self/mountinfo are canonical; compare like with like.
        let _ = fs::create_dir_all(root);
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        Self { root, devices }
    }

    /// Where volume `name` is mounted.
    pub fn mount_point(&self, name: &str) -> PathBuf {
        self.root.join("mounts").join(name)
    }

    fn image(&self, name: &str) -> PathBuf {
        self.root.join("images").join(format!("{name}.img"))
    }

    fn device_record(&self, name: &str) -> PathBuf {
        self.root.join("devices").join(name)
    }

    /// The device volume `name` owns, if it is device-backed.
    fn owned_device(&self, name: &str) -> Option<PathBuf> {
        fs::read_to_string(self.device_record(name))
            .ok()
            .map(|d| PathBuf::from(d.trim()))
    }

    fn devices_in_use(&self) -> Vec<PathBuf> {
        let dir = self.root.join("devices");
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .map(|d| PathBuf::from(d.trim()))
            .collect()
    }

    /// Creates (or re-mounts) volume `name` with `bytes` of space; returns its mount point.
    pub fn provision(&self, name: &str, bytes: u64) -> Result<PathBuf, StorageError> {
        check_name(name)?;
        let target = self.mount_point(name);
        if self.mounted(&target)? {
            return Ok(target);
        }
        if self.owned_device(name).is_none() && !self.image(name).exists() {
            match self.free_device(bytes)? {
                Some(device) => self.claim_device(name, &device)?,
                None => self.create_image(name, bytes)?,
            }
        }
        self.mount(name)?;
        Ok(target)
    }

    fn mounted(&self, target: &Path) -> Result<bool, StorageError> {
        is_mount_point(target).map_err(StorageError::io("read /proc/self/mountinfo for", target))
    }

    fn create_image(&self, name: &str, bytes: u64) -> Result<(), StorageError> {
        let images = self.root.join("images");
        fs::create_dir_all(&images).map_err(StorageError::io("create", &images))?;
        let free = disk_usage(&images).map_or(0, |(_, free)| free);
        if free < bytes {
            return Err(StorageError::NoSpace {
                requested: bytes,
                free,
            });
        }
        // Built under a temporary name, renamed when complete: an image that exists is whole.
        let tmp = images.join(format!(".{name}.img.tmp"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(StorageError::io("create image", &tmp))?;
        allocate(&file, bytes).map_err(StorageError::io("preallocate image", &tmp))?;
        drop(file);
        // No reserved blocks: the claim's owner gets the whole filesystem.
        if let Err(e) = run("mkfs.ext4", &["-q", "-F", "-m", "0", s(&tmp)]) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let image = self.image(name);
        fs::rename(&tmp, &image).map_err(StorageError::io("rename image", &image))
    }

    fn mount(&self, name: &str) -> Result<(), StorageError> {
        let target = self.mount_point(name);
        fs::create_dir_all(&target).map_err(StorageError::io("create mount point", &target))?;
        match self.owned_device(name) {
            Some(device) => run(
                "mount",
                &["-t", "ext4", "-o", "nosuid,nodev", s(&device), s(&target)],
            )?,
            None => run(
                "mount",
                &[
                    "-t",
                    "ext4",
                    "-o",
                    "loop,nosuid,nodev",
                    s(&self.image(name)),
                    s(&target),
                ],
            )?,
        };
        // Writable by containers running as any user, as local-path volumes are.
        fs::set_permissions(&target, fs::Permissions::from_mode(0o777))
            .map_err(StorageError::io("chmod volume root", &target))
    }

    /// Mounts every volume found on disk (after a reboot or kubelet restart).
    pub fn remount_all(&self) {
        let mut names: Vec<String> = fs::read_dir(self.root.join("images"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".img")
                    .filter(|b| !b.starts_with('.'))
                    .map(str::to_string)
            })
            .collect();
        names.extend(
            fs::read_dir(self.root.join("devices"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
        for name in names {
            let target = self.mount_point(&name);
            if matches!(self.mounted(&target), Ok(true)) {
                continue;
            }
            match self.mount(&name) {
                Ok(()) => tracing::info!(volume = %name, "local-disk volume mounted"),
                Err(e) => tracing::warn!(volume = %name, error = %e, "cannot mount volume"),
            }
        }
    }

    /// Grows volume `name` to `bytes`: the image file, its loop device, then the mounted
    /// filesystem (ext4 grows online). Where the kernel refuses an online resize (no
    /// `CAP_SYS_RESOURCE`), the filesystem is grown offline once no pod holds it; until then
    /// the answer is [`Expansion::PendingRestart`]. A device-backed volume already has its
    /// whole device.
    /// `offline_allowed` says no pod on the node uses the volume.
    pub fn expand(
        &self,
        name: &str,
        bytes: u64,
        offline_allowed: bool,
    ) -> Result<Expansion, StorageError> {
        check_name(name)?;
        if let Some(device) = self.owned_device(name) {
            let size = device_size(&device)?;
            return if size >= bytes {
                Ok(Expansion::Done)
            } else {
                Err(StorageError::NoSpace {
                    requested: bytes,
                    free: size,
                })
            };
        }
        let image = self.image(name);
        let current = fs::metadata(&image)
            .map_err(StorageError::io("stat image", &image))?
            .len();
        if current < bytes {
            let free = disk_usage(&image).map_or(0, |(_, free)| free);
            if free < bytes - current {
                return Err(StorageError::NoSpace {
                    requested: bytes - current,
                    free,
                });
            }
            let file = OpenOptions::new()
                .write(true)
                .open(&image)
                .map_err(StorageError::io("open image", &image))?;
            allocate(&file, bytes).map_err(StorageError::io("grow image", &image))?;
        }
        let Some(dev) = self.loop_device(&image) else {
            self.resize_offline(&image)?;
            return Ok(Expansion::Done);
        };
        run("losetup", &["-c", &dev])?;
        match run("resize2fs", &[&dev]) {
            Ok(_) => Ok(Expansion::Done),
            Err(online) => {
                tracing::debug!(volume = name, error = %online, "online resize refused");
                if offline_allowed {
                    self.resize_unmounted(name, &image)
                } else {
                    Ok(Expansion::PendingRestart)
                }
            }
        }
    }

    fn loop_device(&self, image: &Path) -> Option<String> {
        let loops = run("losetup", &["-j", s(image), "-n", "-O", "NAME"]).ok()?;
        loops
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    }

    fn resize_offline(&self, image: &Path) -> Result<(), StorageError> {
        run_accepting("e2fsck", &["-f", "-p", s(image)], &[0, 1])?;
        run("resize2fs", &[s(image)])?;
        Ok(())
    }

    /// Unmounts the volume; if that released its loop device no container holds the
    /// filesystem, so it is resized offline and mounted again. Otherwise it is mounted back
    /// from the same loop device (never a second one: two loop devices on one image would be
    /// two kernels' views of one filesystem).
    fn resize_unmounted(&self, name: &str, image: &Path) -> Result<Expansion, StorageError> {
        let target = self.mount_point(name);
        if self.mounted(&target)? {
            unmount(&target).map_err(StorageError::io("unmount", &target))?;
        }
        if let Some(dev) = self.loop_device(image) {
            run(
                "mount",
                &["-t", "ext4", "-o", "nosuid,nodev", &dev, s(&target)],
            )?;
            return Ok(Expansion::PendingRestart);
        }
        let resized = self.resize_offline(image);
        self.mount(name)?;
        resized.map(|()| Expansion::Done)
    }

    /// Unmounts volume `name` and removes its image (or releases its device). Idempotent.
    pub fn delete(&self, name: &str) -> Result<(), StorageError> {
        check_name(name)?;
        let target = self.mount_point(name);
        if self.mounted(&target)? {
            unmount(&target).map_err(StorageError::io("unmount", &target))?;
        }
        if self.mounted(&target)? {
            return Err(StorageError::Io {
                action: "unmount",
                path: target,
                source: std::io::Error::other("still mounted"),
            });
        }
        let image = self.image(name);
        if image.exists() {
            // A loop device left attached (a crash between mount and autoclear) pins the file.
            let loops = run("losetup", &["-j", s(&image), "-n", "-O", "NAME"]).unwrap_or_default();
            for dev in loops.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let _ = run("losetup", &["-d", dev]);
            }
            fs::remove_file(&image).map_err(StorageError::io("remove image", &image))?;
        }
        let record = self.device_record(name);
        if record.exists() {
            fs::remove_file(&record).map_err(StorageError::io("release device", &record))?;
        }
        match fs::remove_dir(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("remove mount point", &target)(e)),
        }
    }

    /// The smallest listed device not in use that holds `bytes`.
    fn free_device(&self, bytes: u64) -> Result<Option<PathBuf>, StorageError> {
        let used = self.devices_in_use();
        let mut best: Option<(u64, PathBuf)> = None;
        for d in self.devices.iter().filter(|d| !used.contains(d)) {
            let Ok(size) = device_size(d) else { continue };
            if size >= bytes && best.as_ref().map_or(true, |(b, _)| size < *b) {
                best = Some((size, d.clone()));
            }
        }
        Ok(best.map(|(_, d)| d))
    }

    /// Formats `device` for volume `name` (if it is empty or Bramble's) and records it.
    fn claim_device(&self, name: &str, device: &Path) -> Result<(), StorageError> {
        let fstype = blkid(device, "TYPE");
        if !fstype.is_empty() && blkid(device, "LABEL") != DEVICE_LABEL {
            return Err(StorageError::Device {
                device: device.to_path_buf(),
                reason: format!(
                    "holds a {fstype} filesystem not labelled {DEVICE_LABEL}; refusing to format it (wipe it with wipefs to give it to Bramble)"
                ),
            });
        }
        run(
            "mkfs.ext4",
            &["-q", "-F", "-m", "0", "-L", DEVICE_LABEL, s(device)],
        )?;
        let dir = self.root.join("devices");
        fs::create_dir_all(&dir).map_err(StorageError::io("create", &dir))?;
        let record = self.device_record(name);
        fs::write(&record, s(device)).map_err(StorageError::io("record device", &record))
    }

    /// Bytes free for one new volume: the image filesystem's space or the largest free device.
    pub fn free_bytes(&self) -> Option<u64> {
        let images = disk_usage(&self.root).map(|(_, free)| free);
        let used = self.devices_in_use();
        let device = self
            .devices
            .iter()
            .filter(|d| !used.contains(d))
            .filter_map(|d| device_size(d).ok())
            .max();
        images.max(device)
    }
}

/// Preallocates `file` to `bytes` so the volume's space is reserved now, not on first write.
fn allocate(file: &fs::File, bytes: u64) -> std::io::Result<()> {
    let len = libc::off_t::try_from(bytes).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid open descriptor; fallocate has no memory arguments.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One `blkid` tag of `device` (empty when it has none or holds no filesystem).
fn blkid(device: &Path, tag: &str) -> String {
    run("blkid", &["-o", "value", "-s", tag, s(device)])
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn device_size(device: &Path) -> Result<u64, StorageError> {
    let out = run("blockdev", &["--getsize64", s(device)])?;
    out.trim().parse().map_err(|_| StorageError::Device {
        device: device.to_path_buf(),
        reason: format!("blockdev printed {:?}", out.trim()),
    })
}
