//! `volumeMounts[].subPath`: resolve a path inside a volume without escaping it, and pin the
//! result with a bind mount so it cannot be swapped between the check and the mount.
//!
//! Upstream (`pkg/volume/util/subpath/subpath_linux.go`) opens the subPath component by
//! component, then bind-mounts `/proc/<kubelet pid>/fd/<fd>` onto
//! `pods/<uid>/volume-subpaths/<volume>/<container>/<mount index>` and hands that path to
//! the runtime. Here the open is one openat2(2) with `RESOLVE_BENEATH` (symlinks inside the
//! volume are followed, anything leaving it fails with EXDEV); on kernels without openat2 the
//! walk is done with `O_NOFOLLOW` and every symlink is refused (see [`super::beneath`]).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use super::beneath::{self, Symlinks};
use super::VolumeError;

/// Rejects absolute subPaths and `..` components, with upstream's `makeMounts` messages.
pub fn validate_sub_path(sub_path: &str) -> Result<(), VolumeError> {
    if sub_path.starts_with('/') {
        return Err(VolumeError::SubPath(format!(
            "error SubPath `{sub_path}` must not be an absolute path"
        )));
    }
    if Path::new(sub_path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(VolumeError::SubPath(format!(
            "unable to provision SubPath `{sub_path}`: must not contain '..'"
        )));
    }
    Ok(())
}

fn escape_error(sub_path: &str, volume: &Path) -> VolumeError {
    VolumeError::SubPath(format!(
        "subpath {:?} not within volume path {:?}",
        volume.join(sub_path).display().to_string(),
        volume.display().to_string()
    ))
}

/// Opens `sub_path` inside `volume` (creating missing directories with `create_mode` when
/// given, like upstream's `SafeMakeDir`); the returned `O_PATH` descriptor pins the object.
/// `use_openat2 = false` forces the component walk used on kernels without openat2.
pub fn open_beneath(
    volume: &Path,
    sub_path: &str,
    create_mode: Option<u32>,
    use_openat2: bool,
) -> Result<OwnedFd, VolumeError> {
    validate_sub_path(sub_path)?;
    let root = beneath::open_dir(volume).map_err(VolumeError::io("open volume", volume))?;
    beneath::open_below(
        root,
        sub_path,
        Symlinks::StayBeneath,
        create_mode,
        use_openat2,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => escape_error(sub_path, volume),
        _ => VolumeError::Io {
            action: "open subPath in",
            path: volume.join(sub_path),
            source: e,
        },
    })
}

/// Bind-mounts the object behind `fd` onto `target` (created as an empty directory or file to
/// match it), then checks the mount shows that very object.
pub(crate) fn bind_pinned(fd: &OwnedFd, target: &Path) -> Result<(), VolumeError> {
    beneath::bind_fd(fd, target, false)
        .map_err(|e| e.into_volume_error("subPath", "the opened path"))
}

/// Permission bits of the volume root, used for directories a subPath creates.
pub(crate) fn volume_mode(volume: &Path) -> u32 {
    fs::metadata(volume)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o755)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume_with_escape() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let v = tmp.path().join("vol");
        fs::create_dir_all(v.join("data/inner")).unwrap();
        std::os::unix::fs::symlink("/etc", v.join("out")).unwrap();
        std::os::unix::fs::symlink("../..", v.join("data/up")).unwrap();
        std::os::unix::fs::symlink("inner", v.join("data/in")).unwrap();
        tmp
    }

    #[test]
    fn absolute_and_backstep_paths_are_refused() {
        assert_eq!(
            validate_sub_path("/etc").unwrap_err().to_string(),
            "error SubPath `/etc` must not be an absolute path"
        );
        assert_eq!(
            validate_sub_path("a/../../b").unwrap_err().to_string(),
            "unable to provision SubPath `a/../../b`: must not contain '..'"
        );
        validate_sub_path("a/..b").unwrap();
    }

    #[test]
    fn symlinks_leaving_the_volume_are_refused_both_ways() {
        let tmp = volume_with_escape();
        let v = tmp.path().join("vol");
        for openat2 in [true, false] {
            for bad in ["out", "data/up", "data/up/vol", "out/passwd"] {
                let err = open_beneath(&v, bad, None, openat2).unwrap_err();
                assert!(err.to_string().contains("not within volume path"), "{err}");
            }
            let fd = open_beneath(&v, "data/inner", None, openat2).unwrap();
            assert!(beneath::fd_metadata(&fd).unwrap().is_dir());
        }
        // A symlink that stays inside is followed with openat2.
        open_beneath(&v, "data/in", None, true).unwrap();
        assert!(open_beneath(&v, "data/in", None, false).is_err());
    }

    #[test]
    fn missing_directories_are_created_inside_the_volume() {
        let tmp = volume_with_escape();
        let v = tmp.path().join("vol");
        open_beneath(&v, "new/deeper", Some(0o755), true).unwrap();
        assert!(v.join("new/deeper").is_dir());
        assert!(open_beneath(&v, "missing", None, true).is_err());
        let err = open_beneath(&v, "out/newdir", Some(0o755), true).unwrap_err();
        assert!(err.to_string().contains("not within volume path"), "{err}");
        assert!(!Path::new("/etc/newdir").exists());
    }
}
