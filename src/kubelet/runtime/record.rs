//! Bramble's own on-disk record of each container, next to the OCI runtime's state.
//!
//! `<root>/containers/<id>/` holds what the OCI runtime does not keep: the bundle and cgroup
//! path (`meta.json`), the supervisor's pid (`shim.pid`), when `start` succeeded
//! (`started_at`) and, once the init exited, how it ended (`exit.json`, written by the
//! supervisor). Files are replaced atomically (write + rename) so a reader after a crash sees
//! the old or the new content, never half of it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, RuntimeError};

/// Static facts about a container, written at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMeta {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The CRI log file.
    pub log_path: PathBuf,
    /// `linux.cgroupsPath` from the bundle.
    pub cgroups_path: String,
}

/// How a container's init process ended, written by its supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code; `128 + signal` when killed by a signal; `None` when unknown.
    pub exit_code: Option<i32>,
    /// The killing signal, if any.
    pub signal: Option<i32>,
    /// When the supervisor saw the init exit.
    pub finished_at: DateTime<Utc>,
    /// Whether the cgroup's OOM-kill counter was non-zero.
    pub oom_killed: bool,
}

/// The record directory of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDir(PathBuf);

/// The directory under a runtime root holding every container's record.
pub fn records_root(root: &Path) -> PathBuf {
    root.join("containers")
}

impl RecordDir {
    /// The record directory of `id` under a runtime root.
    pub fn new(root: &Path, id: &str) -> Self {
        RecordDir(records_root(root).join(id))
    }

    /// Wraps an existing directory path.
    pub fn from_path(path: PathBuf) -> Self {
        RecordDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Whether the container has a record at all.
    pub fn exists(&self) -> bool {
        self.0.join("meta.json").exists()
    }

    /// Where the runtime writes the init's pid at create.
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("init.pid")
    }

    /// Writes `name` atomically.
    pub fn write(&self, name: &str, contents: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.0)
            .map_err(|e| RuntimeError::io(format!("creating {}", self.0.display()), e))?;
        let tmp = self.0.join(format!(".{name}.tmp"));
        let path = self.0.join(name);
        std::fs::write(&tmp, contents)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.0.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| RuntimeError::Record {
                        path,
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RuntimeError::io(format!("reading {}", path.display()), e)),
        }
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| RuntimeError::Record {
            path: self.0.join(name),
            message: e.to_string(),
        })?;
        self.write(name, &bytes)
    }

    /// The container's static facts.
    pub fn meta(&self) -> Result<Option<ContainerMeta>> {
        self.read_json("meta.json")
    }

    /// Records the container's static facts.
    pub fn set_meta(&self, meta: &ContainerMeta) -> Result<()> {
        self.write_json("meta.json", meta)
    }

    /// How the init ended, once it has.
    pub fn exit(&self) -> Result<Option<ExitRecord>> {
        self.read_json("exit.json")
    }

    /// Records how the init ended.
    pub fn set_exit(&self, exit: &ExitRecord) -> Result<()> {
        self.write_json("exit.json", exit)
    }

    /// When `start` succeeded.
    pub fn started_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.read_json("started_at")
    }

    /// Records that `start` succeeded now.
    pub fn set_started_now(&self) -> Result<()> {
        self.write_json("started_at", &Utc::now())
    }

    /// The supervisor's pid.
    pub fn shim_pid(&self) -> Result<Option<i32>> {
        self.read_json("shim.pid")
    }

    /// Records the supervisor's pid.
    pub fn set_shim_pid(&self, pid: i32) -> Result<()> {
        self.write_json("shim.pid", &pid)
    }
}

/// Reads a pid file written by an OCI runtime (`--pid-file`).
pub fn read_pid_file(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    text.trim().parse().map_err(|_| RuntimeError::Record {
        path: path.to_path_buf(),
        message: format!("not a pid: {text:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_record_round_trips_and_absence_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let rec = RecordDir::new(dir.path(), "c1");
        assert_eq!(rec.exit().unwrap(), None);
        let exit = ExitRecord {
            exit_code: Some(137),
            signal: Some(9),
            finished_at: Utc::now(),
            oom_killed: true,
        };
        rec.set_exit(&exit).unwrap();
        assert_eq!(rec.exit().unwrap(), Some(exit));
        std::fs::write(rec.path().join("exit.json"), b"{").unwrap();
        assert!(matches!(rec.exit(), Err(RuntimeError::Record { .. })));
    }
}
