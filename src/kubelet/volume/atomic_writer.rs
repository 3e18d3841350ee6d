//! Atomic projection of a set of files into a volume directory (configMap, secret).
//!
//! Upstream's `AtomicWriter` (`pkg/volume/util/atomic_writer.go`) layout, which applications
//! rely on to see all keys of one update at once:
//! ```text
//! <dir>/..2024_01_02_15_04_05.123456/<path>   the payload, one timestamped dir per update
//! <dir>/..data -> ..2024_01_02_15_04_05.123456 swapped with rename(2) of `..data_tmp`
//! <dir>/<first path component> -> ..data/<first path component>
//! ```
//! A payload equal to what is already projected changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::VolumeError;

const DATA_DIR_NAME: &str = "..data";
const NEW_DATA_DIR_NAME: &str = "..data_tmp";
const MAX_FILE_NAME_LENGTH: usize = 255;
const MAX_PATH_LENGTH: usize = 4096;

/// One file of a payload: its bytes and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// File content.
    pub data: Vec<u8>,
    /// Permission bits (`defaultMode`/`items[].mode`).
    pub mode: u32,
}

/// Writes payloads into one volume directory with upstream's symlink-swap layout.
#[derive(Debug, Clone)]
pub struct AtomicWriter {
    target_dir: PathBuf,
}

/// Checks one payload path the way upstream's `validatePath` does.
pub(crate) fn validate_path(target: &str) -> Result<(), VolumeError> {
    if target.is_empty() {
        return Err(VolumeError::InvalidPath(format!(
            "must not be empty: {target:?}"
        )));
    }
    if target.starts_with('/') {
        return Err(VolumeError::InvalidPath(format!(
            "must be relative path: {target}"
        )));
    }
    if target.len() > MAX_PATH_LENGTH {
        return Err(VolumeError::InvalidPath(format!(
            "must be less than or equal to {MAX_PATH_LENGTH} characters"
        )));
    }
    let items: Vec<&str> = target.split('/').collect();
    for item in &items {
        if *item == ".." {
            return Err(VolumeError::InvalidPath(format!(
                "must not contain '..': {target}"
            )));
        }
        if item.len() > MAX_FILE_NAME_LENGTH {
            return Err(VolumeError::InvalidPath(format!(
                "filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )));
        }
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(VolumeError::InvalidPath(format!(
            "must not start with '..': {target}"
        )));
    }
    Ok(())
}

/// First path component: the name applications see at the top of the volume.
fn top_component(path: &str) -> &str {
    path.split('/')
        .find(|c| !c.is_empty() && *c != ".")
        .unwrap_or(path)
}

/// Every regular file below `dir` as `relative path -> projection`.
fn read_tree(dir: &Path) -> io::Result<BTreeMap<String, FileProjection>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        for entry in fs::read_dir(&abs)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push((entry.path(), rel_child));
            } else {
                let data = fs::read(entry.path())?;
                let mode = meta.permissions().mode() & 0o7777;
                out.insert(rel_child, FileProjection { data, mode });
            }
        }
    }
    Ok(out)
}

impl AtomicWriter {
    /// A writer for the volume directory `target_dir`, which must exist.
    pub fn new(target_dir: impl Into<PathBuf>) -> Self {
        Self {
            target_dir: target_dir.into(),
        }
    }

    /// The timestamped directory `..data` points at now, if any.
    fn current_data_dir(&self) -> Option<PathBuf> {
        let link = fs::read_link(self.target_dir.join(DATA_DIR_NAME)).ok()?;
        Some(self.target_dir.join(link))
    }

    fn io(&self, action: &'static str) -> impl FnOnce(io::Error) -> VolumeError {
        VolumeError::io(action, &self.target_dir)
    }

    /// Projects `payload` (relative path -> file) into the volume, replacing the previous
    /// payload in one atomic step.
    pub fn write(&self, payload: &BTreeMap<String, FileProjection>) -> Result<(), VolumeError> {
        let mut cleaned = BTreeMap::new();
        for (path, file) in payload {
            validate_path(path)?;
            let clean: Vec<&str> = path
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            cleaned.insert(clean.join("/"), file.clone());
        }
        let old_dir = self.current_data_dir();
        let old_payload = match &old_dir {
            Some(dir) => read_tree(dir).map_err(self.io("read projected files in"))?,
            None => BTreeMap::new(),
        };
        if old_dir.is_none() || old_payload != cleaned {
            let new_dir = self.new_timestamped_dir()?;
            for (path, file) in &cleaned {
                write_file(&new_dir.join(path), file)?;
            }
            self.swap_data_link(&new_dir)?;
        }
        let new_top: BTreeSet<&str> = cleaned.keys().map(|p| top_component(p)).collect();
        for top in &new_top {
            self.ensure_user_visible_link(top)?;
        }
        for old in old_payload.keys().map(|p| top_component(p)) {
            if !new_top.contains(old) {
                let link = self.target_dir.join(old);
                match fs::remove_file(&link) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(VolumeError::io("remove stale projected file", &link)(e));
                    }
                    _ => {}
                }
            }
        }
        if let Some(old) = old_dir {
            if Some(&old) != self.current_data_dir().as_ref() {
                fs::remove_dir_all(&old).map_err(VolumeError::io("remove old payload", &old))?;
            }
        }
        Ok(())
    }

    fn new_timestamped_dir(&self) -> Result<PathBuf, VolumeError> {
        let stamp = chrono::Utc::now()
            .format("..%Y_%m_%d_%H_%M_%S.")
            .to_string();
        loop {
            let dir = self
                .target_dir
                .join(format!("{stamp}{}", rand::random::<u32>()));
            match DirBuilder::new().mode(0o755).create(&dir) {
                Ok(()) => {
                    fs::set_permissions(&dir, Permissions::from_mode(0o755))
                        .map_err(VolumeError::io("set permissions on", &dir))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(VolumeError::io("create payload directory", &dir)(e)),
            }
        }
    }

    /// Points `..data` at `new_dir` with one rename(2), the step that makes an update atomic.
    fn swap_data_link(&self, new_dir: &Path) -> Result<(), VolumeError> {
        let tmp = self.target_dir.join(NEW_DATA_DIR_NAME);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(VolumeError::io("remove", &tmp)(e));
            }
            _ => {}
        }
        let name = new_dir.file_name().unwrap_or_default();
        std::os::unix::fs::symlink(name, &tmp).map_err(VolumeError::io("create symlink", &tmp))?;
        let data = self.target_dir.join(DATA_DIR_NAME);
        fs::rename(&tmp, &data).map_err(VolumeError::io("rename symlink onto", &data))
    }

    fn ensure_user_visible_link(&self, top: &str) -> Result<(), VolumeError> {
        let link = self.target_dir.join(top);
        let want = Path::new(DATA_DIR_NAME).join(top);
        match fs::read_link(&link) {
            Ok(current) if current == want => return Ok(()),
            Ok(_) => fs::remove_file(&link).map_err(VolumeError::io("remove", &link))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => fs::remove_file(&link).map_err(VolumeError::io("remove", &link))?,
        }
        std::os::unix::fs::symlink(&want, &link).map_err(VolumeError::io("create symlink", &link))
    }
}

fn write_file(path: &Path, file: &FileProjection) -> Result<(), VolumeError> {
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(VolumeError::io("create directory", parent))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode & 0o777)
        .open(path)
        .map_err(VolumeError::io("create projected file", path))?;
    f.write_all(&file.data)
        .map_err(VolumeError::io("write projected file", path))?;
    // The umask narrowed the mode at creation; set it exactly as the pod asked.
    fs::set_permissions(path, Permissions::from_mode(file.mode & 0o7777))
        .map_err(VolumeError::io("set permissions on", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(items: &[(&str, &str, u32)]) -> BTreeMap<String, FileProjection> {
        items
            .iter()
            .map(|(p, d, m)| {
                let f = FileProjection {
                    data: d.as_bytes().to_vec(),
                    mode: *m,
                };
                (p.to_string(), f)
            })
            .collect()
    }

    #[test]
    fn layout_modes_and_atomic_update() {
        let tmp = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(tmp.path());
        w.write(&payload(&[("a", "1", 0o644), ("dir/b", "2", 0o400)]))
            .unwrap();
        let dir = tmp.path();
        assert_eq!(fs::read_link(dir.join("a")).unwrap(), Path::new("..data/a"));
        assert_eq!(
            fs::read_link(dir.join("dir")).unwrap(),
            Path::new("..data/dir")
        );
        let ts = fs::read_link(dir.join("..data")).unwrap();
        assert!(ts.to_string_lossy().starts_with("..20"), "{ts:?}");
        assert_eq!(fs::read_to_string(dir.join("dir/b")).unwrap(), "2");
        let mode = fs::metadata(dir.join("dir/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);

        // Same payload: nothing moves.
        w.write(&payload(&[("a", "1", 0o644), ("dir/b", "2", 0o400)]))
            .unwrap();
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), ts);

        // New payload: new timestamped dir, stale key gone, old dir removed.
        w.write(&payload(&[("a", "changed", 0o644)])).unwrap();
        let ts2 = fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(ts2, ts);
        assert!(!dir.join(&ts).exists());
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "changed");
        assert!(fs::symlink_metadata(dir.join("dir")).is_err());
    }

    #[test]
    fn readers_never_see_a_mix_of_two_updates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let w = AtomicWriter::new(&dir);
        w.write(&payload(&[("a", "0", 0o644), ("b", "0", 0o644)]))
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (dir, stop) = (dir.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut consistent_reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // `..data` must exist at every instant once written.
                    fs::read_link(dir.join("..data")).unwrap();
                    // Pin one generation, then read both keys from it.
                    let Ok(generation) = fs::File::open(dir.join("..data")) else {
                        continue;
                    };
                    use std::os::fd::AsRawFd;
                    let base = PathBuf::from(format!("/proc/self/fd/{}", generation.as_raw_fd()));
                    if let (Ok(a), Ok(b)) = (
                        fs::read_to_string(base.join("a")),
                        fs::read_to_string(base.join("b")),
                    ) {
                        assert_eq!(a, b, "saw keys from two different updates");
                        consistent_reads += 1;
                    }
                }
                consistent_reads
            })
        };
        for n in 1..200 {
            let v = n.to_string();
            w.write(&payload(&[("a", &v, 0o644), ("b", &v, 0o644)]))
                .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(fs::read_to_string(dir.join("b")).unwrap(), "199");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert_eq!(
            validate_path("/etc/passwd").unwrap_err().to_string(),
            "invalid path: must be relative path: /etc/passwd"
        );
        assert_eq!(
            validate_path("a/../../b").unwrap_err().to_string(),
            "invalid path: must not contain '..': a/../../b"
        );
        assert_eq!(
            validate_path("..data/x").unwrap_err().to_string(),
            "invalid path: must not start with '..': ..data/x"
        );
        validate_path("..").unwrap_err();
        validate_path("a/b.txt").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(tmp.path());
        assert!(w.write(&payload(&[("../x", "1", 0o644)])).is_err());
    }
}
