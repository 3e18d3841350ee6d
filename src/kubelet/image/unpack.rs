//! Unpacks one image layer (a tar, optionally gzip-compressed) into its own directory,
//! ready to be an overlayfs lower layer. OCI whiteouts become overlayfs whiteouts
//! (`.wh.name` → a 0/0 character device, `.wh..wh..opq` → `trusted.overlay.opaque=y`), as
//! containerd's overlay snapshotter expects. Nothing is ever written outside the layer
//! directory: `..` and absolute entry names are rejected, and parent directories are
//! resolved with symlinks followed *inside* the layer (like containerd's `fs.RootPath`), a
//! link that would lead out being an error. The uncompressed stream is hashed and must equal
//! the config's `diff_id`; the layer appears under its real name only when complete.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::store::hex;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Reading the blob or writing the layer failed.
    #[error("unpacking layer {layer}: {path}: {source}")]
    Io {
        /// Layer diff id.
        layer: String,
        /// File involved.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The layer tries to write outside its directory.
    #[error("unpacking layer {layer}: entry {entry:?} would be written outside the layer; refusing this image")]
    PathEscape {
        /// Layer diff id.
        layer: String,
        /// The offending entry name.
        entry: String,
    },
    /// The uncompressed content does not match the image config.
    #[error("layer {expected} unpacked to content with digest {actual}; the image is corrupt")]
    DiffIdMismatch {
        /// diff id from the config.
        expected: String,
        /// digest of what was read.
        actual: String,
    },
    /// A compression the store does not support.
    #[error("layer {layer}: unsupported compression ({what}); use gzip or uncompressed layers")]
    Unsupported {
        /// Layer diff id.
        layer: String,
        /// What was found.
        what: String,
    },
}

/// Unpacks blob `blob` into `dest` unless it is already there; `diff_id` is verified.
/// Blocking: call from `spawn_blocking`.
pub fn unpack_layer(
    blob: &Path,
    diff_id: &str,
    dest: &Path,
    tmp_dir: &Path,
) -> Result<(), UnpackError> {
    if dest.is_dir() {
        return Ok(());
    }
    let ioe = |path: &Path| {
        let (layer, path) = (diff_id.to_string(), path.display().to_string());
        move |source| UnpackError::Io {
            layer,
            path,
            source,
        }
    };
    let work = tempfile::Builder::new()
        .prefix("layer-")
        .tempdir_in(tmp_dir)
        .map_err(ioe(tmp_dir))?;
    let root = work.path().join("root");
    fs::create_dir(&root).map_err(ioe(&root))?;
    let file = fs::File::open(blob).map_err(ioe(blob))?;
    let mut buffered = BufReader::new(file);
    let head = buffered.fill_buf().map_err(ioe(blob))?;
    let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(UnpackError::Unsupported {
            layer: diff_id.into(),
            what: "zstd".into(),
        });
    } else {
        Box::new(buffered)
    };
    let mut hashing = HashingReader {
        inner: stream,
        hasher: Sha256::new(),
    };
    extract(&mut hashing, &root, diff_id)?;
    let actual = format!("sha256:{}", hex(&hashing.hasher.finalize()));
    if actual != diff_id {
        return Err(UnpackError::DiffIdMismatch {
            expected: diff_id.into(),
            actual,
        });
    }
    match fs::rename(&root, dest) {
        Ok(()) => Ok(()),
        // Another pull of an image sharing this layer finished first: theirs is identical.
        Err(_) if dest.is_dir() => Ok(()),
        Err(e) => Err(ioe(dest)(e)),
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Extracts the tar stream `reader` into `root` and drains the stream to its end.
pub fn extract<R: Read>(reader: &mut R, root: &Path, layer: &str) -> Result<(), UnpackError> {
    let ioe = |path: &Path| {
        let (layer, path) = (layer.to_string(), path.display().to_string());
        move |source| UnpackError::Io {
            layer,
            path,
            source,
        }
    };
    let mut archive = tar::Archive::new(&mut *reader);
    let mut dir_times = Vec::new();
    for entry in archive.entries().map_err(ioe(root))? {
        let mut entry = entry.map_err(ioe(root))?;
        let raw = entry.path().map_err(ioe(root))?.into_owned();
        let escape = || UnpackError::PathEscape {
            layer: layer.into(),
            entry: raw.display().to_string(),
        };
        let rel = clean_relative(&raw).ok_or_else(escape)?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            continue; // the layer root itself ("./")
        };
        let parent = resolve_in_root(root, rel.parent().unwrap_or(Path::new("")), true).map_err(
            |e| match e {
                Resolve::Escape => escape(),
                Resolve::Io(err) => ioe(&rel)(err),
            },
        )?;
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE_WHITEOUT {
            set_xattr(&parent, "trusted.overlay.opaque", b"y").map_err(ioe(&parent))?;
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                continue; // other aufs metadata (.wh..wh.plnk …) has no overlayfs meaning
            }
            let target = parent.join(hidden);
            remove_existing(&target, false).map_err(ioe(&target))?;
            mknod(&target, libc::S_IFCHR, 0, 0).map_err(ioe(&target))?;
            continue;
        }
        let target = parent.join(&name);
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().map_err(ioe(&target))? & 0o7777;
        remove_existing(&target, kind.is_dir()).map_err(ioe(&target))?;
        match kind {
            tar::EntryType::Directory => {
                if !target.is_dir() {
                    fs::create_dir(&target).map_err(ioe(&target))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)
                    .map_err(ioe(&target))?;
                io::copy(&mut entry, &mut f).map_err(ioe(&target))?;
            }
            tar::EntryType::Symlink => {
                let link = entry.link_name().map_err(ioe(&target))?.unwrap_or_default();
                std::os::unix::fs::symlink(&link, &target).map_err(ioe(&target))?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(ioe(&target))?
                    .unwrap_or_default()
                    .into_owned();
                let link_rel = clean_relative(&link).ok_or_else(escape)?;
                let link_parent =
                    resolve_in_root(root, link_rel.parent().unwrap_or(Path::new("")), false)
                        .map_err(|_| escape())?;
                let source = link_parent.join(link_rel.file_name().ok_or_else(escape)?);
                fs::hard_link(&source, &target).map_err(ioe(&target))?;
                continue; // shares the inode: metadata is the source's
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let fmt = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                mknod(&target, fmt | mode, major, minor).map_err(ioe(&target))?;
            }
            // Pax/GNU metadata entries are consumed by the tar reader; anything else is skipped.
            _ => continue,
        }
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                if let (Ok(key), value) = (ext.key(), ext.value_bytes()) {
                    if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                        if let Err(e) = set_xattr(&target, attr, value) {
                            tracing::debug!(path = %target.display(), attr, error = %e, "cannot set xattr");
                        }
                    }
                }
            }
        }
        let uid = header.uid().unwrap_or(0) as libc::uid_t;
        let gid = header.gid().unwrap_or(0) as libc::gid_t;
        lchown(&target, uid, gid).map_err(ioe(&target))?;
        // chmod after chown: chown clears setuid/setgid bits.
        if kind != tar::EntryType::Symlink {
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(ioe(&target))?;
        }
        let mtime = header.mtime().unwrap_or(0) as i64;
        if kind.is_dir() {
            dir_times.push((target, mtime));
        } else {
            let _ = set_mtime(&target, mtime);
        }
    }
    // Directory times last: creating children updated them.
    for (dir, mtime) in dir_times.iter().rev() {
        let _ = set_mtime(dir, *mtime);
    }
    io::copy(reader, &mut io::sink()).map_err(ioe(root))?;
    Ok(())
}

/// `./a/b` → `a/b`; `None` for absolute names or any `..` component.
fn clean_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

enum Resolve {
    Escape,
    Io(io::Error),
}

/// The real path of directory `rel` inside `root`, following symlinks as if `root` were `/`
/// but refusing any that climb above it; missing directories are created when `create`.
fn resolve_in_root(root: &Path, rel: &Path, create: bool) -> Result<PathBuf, Resolve> {
    let mut pending: VecDeque<PathBuf> = rel
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut resolved: Vec<PathBuf> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop_front() {
        if c.as_os_str() == "." || c.as_os_str().is_empty() {
            continue;
        }
        if c.as_os_str() == ".." {
            if resolved.pop().is_none() {
                return Err(Resolve::Escape);
            }
            continue;
        }
        let here: PathBuf = resolved
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&c);
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Resolve::Escape);
                }
                let target = fs::read_link(&here).map_err(Resolve::Io)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, tc) in target
                    .components()
                    .filter(|c| !matches!(c, Component::RootDir))
                    .enumerate()
                {
                    pending.insert(i, PathBuf::from(tc.as_os_str()));
                }
            }
            Ok(m) if m.is_dir() => resolved.push(c),
            Ok(_) => {
                return Err(Resolve::Io(io::Error::other(format!(
                    "{} is not a directory",
                    here.display()
                ))))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&here).map_err(Resolve::Io)?;
                resolved.push(c);
            }
            Err(e) => return Err(Resolve::Io(e)),
        }
    }
    Ok(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// Removes whatever is at `path` (never following a symlink), keeping a directory if the
/// new entry is a directory too.
fn remove_existing(path: &Path, keep_dir: bool) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && keep_dir => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mknod(path: &Path, mode: libc::mode_t, major: u32, minor: u32) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: `p` is a valid NUL-terminated path for the duration of the call.
    check(unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(major, minor)) })
}

fn lchown(path: &Path, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: `p` is a valid NUL-terminated path for the duration of the call.
    check(unsafe { libc::lchown(p.as_ptr(), uid, gid) })
}

/// Sets an extended attribute on `path` itself (not a symlink's target).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: pointers are valid for the call; the length matches `value`.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Reads an extended attribute of `path` itself.
pub fn get_xattr(path: &Path, name: &str) -> io::Result<Vec<u8>> {
    let p = cpath(path)?;
    let n = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut buf = vec![0u8; 256];
    // SAFETY: pointers are valid for the call; the length matches `buf`.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let p = cpath(path)?;
    let t = libc::timespec {
        // the libc crate deprecates naming time_t on musl targets (its width changes in musl 1.2)
        tv_sec: secs as _,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: `p` and `times` are valid for the call.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
