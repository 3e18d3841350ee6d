//! Loading a device program into the kernel and attaching it to a cgroup with bpf(2).
//!
//! `BPF_PROG_LOAD` with type `BPF_PROG_TYPE_CGROUP_DEVICE`, then `BPF_PROG_ATTACH` to the
//! cgroup directory as `BPF_CGROUP_DEVICE` with `BPF_F_ALLOW_MULTI`, as runc does (it needs
//! cgroup v2, Linux 4.15 or later, and `CAP_SYS_ADMIN`). With `ALLOW_MULTI` the programs of
//! the cgroup and of its ancestors all run and every one must allow an access. The cgroup
//! holds the program once attached, so its file descriptor is closed here; the program
//! stays until the cgroup is removed.
//!
//! The license string is runc's ("Apache"): the kernel asks for a GPL-compatible license
//! only from programs that call GPL-only helpers, and device programs call none.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::program::Insn;

// From the kernel's uapi `linux/bpf.h`.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

const LICENSE: &CStr = c"Apache";
/// Shown by `bpftool prog` (at most 15 characters).
const PROG_NAME: &[u8; 15] = b"bramble_devices";
/// Room for the verifier's log when a load is refused; the programs are under a few
/// hundred instructions, so their log is far smaller.
const LOG_SIZE: usize = 64 * 1024;

/// Why a device program could not be put on a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The cgroup directory could not be opened.
    #[error("opening cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// The open error.
        source: std::io::Error,
    },
    /// The kernel refused the program.
    #[error("BPF_PROG_LOAD (BPF_PROG_TYPE_CGROUP_DEVICE) failed: {errno}{}", verifier_tail(.log))]
    Load {
        /// What bpf(2) returned.
        errno: Errno,
        /// The verifier's log, when it gave one.
        log: String,
    },
    /// The kernel refused to attach the program to the cgroup.
    #[error("BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to {path} failed: {errno}")]
    Attach {
        /// The cgroup directory.
        path: PathBuf,
        /// What bpf(2) returned.
        errno: Errno,
    },
}

fn verifier_tail(log: &str) -> String {
    let log = log.trim();
    if log.is_empty() {
        return String::new();
    }
    // The verdict is at the end of the log.
    let start = log.len().saturating_sub(512);
    let start = (start..log.len())
        .find(|i| log.is_char_boundary(*i))
        .unwrap_or(0);
    format!("; verifier log: {}", &log[start..])
}

/// `union bpf_attr` as `BPF_PROG_LOAD` reads it, up to `expected_attach_type`.
///
/// Neither attr struct may have padding: the kernel reads every byte up to the size it is
/// given, and padding bytes are not zeroed (on Linux 6.6 and later stray bytes after
/// `replace_bpf_fd` read as `relative_fd` and make the attach fail with `EINVAL`).
#[repr(C, align(8))]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` as `BPF_PROG_ATTACH` reads it, up to `replace_bpf_fd`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 72);
const _: () = assert!(std::mem::size_of::<ProgAttachAttr>() == 20);

/// bpf(2) with `attr`; the kernel reads (and for loads, writes the log to) only the
/// buffers `attr` points at, which the caller keeps alive across the call.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a repr(C) `bpf_attr` prefix of `size_of::<T>()` bytes, valid for
    // the call; the kernel zero-fills the rest of its union.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn prog_load(insns: &[Insn], log: Option<&mut [u8]>) -> Result<OwnedFd, Errno> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(log.len()).map_err(|_| Errno::E2BIG)?;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads `insns` as a device program. On kernels before 5.11, which charge BPF memory to
/// `RLIMIT_MEMLOCK`, a refusal with `EPERM` is retried once with the limit lifted (as runc
/// does). Only the calling process's limit changes: the built-in runtime calls this after
/// the container's init was forked, and exec'd processes come from a fresh helper.
pub fn load(insns: &[Insn]) -> Result<OwnedFd, LoadError> {
    let first = match prog_load(insns, None) {
        Err(Errno::EPERM) => {
            let unlimited = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit reads a valid rlimit.
            if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
                tracing::debug!("raising RLIMIT_MEMLOCK: {}", Errno::last());
            }
            prog_load(insns, None)
        }
        other => other,
    };
    first.map_err(|errno| {
        // Load again for the verifier's explanation; the result does not matter.
        let mut buf = vec![0u8; LOG_SIZE];
        let mut log = String::new();
        if matches!(errno, Errno::EINVAL | Errno::EACCES)
            && prog_load(insns, Some(&mut buf)).is_err()
        {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            log = String::from_utf8_lossy(&buf[..end]).into_owned();
        }
        LoadError::Load { errno, log }
    })
}

/// Attaches a loaded device program to the cgroup at `cgroup_dir`.
pub fn attach(prog: &OwnedFd, cgroup_dir: &Path) -> Result<(), LoadError> {
    let dir = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(cgroup_dir)
        .map_err(|source| LoadError::Cgroup {
            path: cgroup_dir.to_path_buf(),
            source,
        })?;
    let fd = |raw: i32| u32::try_from(raw).unwrap_or(u32::MAX);
    let mut attr = ProgAttachAttr {
        target_fd: fd(dir.as_raw_fd()),
        attach_bpf_fd: fd(prog.as_raw_fd()),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|errno| LoadError::Attach {
        path: cgroup_dir.to_path_buf(),
        errno,
    })?;
    Ok(())
}

/// Loads `insns` and attaches them to the cgroup at `cgroup_dir`.
pub fn load_and_attach(insns: &[Insn], cgroup_dir: &Path) -> Result<(), LoadError> {
    attach(&load(insns)?, cgroup_dir)
}
