//! gitRepo volumes: an emptyDir-backed directory holding a clone of a repository at a
//! revision, made as upstream's `pkg/volume/git_repo` does (`git clone -- URL [directory]`,
//! then `git checkout REVISION` and `git reset --hard` in the clone), but with git kept from
//! running anything the repository, its server or the node's git configuration supplies.
//!
//! Upstream deprecated gitRepo because a clone run by the kubelet as root executes hooks and
//! config-driven commands. Here `git` runs with an empty environment and `HOME`, no system or
//! global configuration, no template directory (so no hooks are installed), `core.hooksPath`
//! pointing at `/dev/null`, fsmonitor off, submodules never followed, objects checked with
//! `transfer.fsckObjects`, and only the network protocols http, https and git allowed: `ext::`
//! runs commands and `file://` (or a plain path) would copy any repository on the node into
//! the pod. A clone cannot carry `.git/config` or hooks; a repository's symlinks stay symlinks
//! inside the volume and nothing here follows them. A clone that takes longer than
//! [`CLONE_TIMEOUT`] is killed.

use std::fs::{self, File};
use std::path::{Component, Path};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::GitRepoVolumeSource;

use super::{emptydir, mounts, VolumeError};

/// How long one git command may run.
pub const CLONE_TIMEOUT: Duration = Duration::from_secs(300);

/// The name of the marker, next to the volume directory, saying the clone completed.
fn ready_marker(dir: &Path) -> Option<std::path::PathBuf> {
    let name = dir.file_name()?.to_str()?;
    // Volume names are DNS labels, so a leading dot never collides with another volume.
    Some(dir.with_file_name(format!(".{name}.ready")))
}

/// `-c` settings that keep git from running commands or reading what it should not.
const HARDENING: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.sshCommand=false",
    "core.askPass=",
    "credential.helper=",
    "init.templateDir=",
    "submodule.recurse=false",
    "transfer.fsckObjects=true",
    "fetch.fsckObjects=true",
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.http.allow=always",
    "protocol.git.allow=always",
    "core.symlinks=true",
    "advice.detachedHead=false",
];

/// Clones `source` into the volume directory `dir` (created here, mode 0777) unless an
/// earlier setup finished. A half-done earlier attempt is removed first.
pub(crate) fn setup(
    dir: &Path,
    volume: &str,
    source: &GitRepoVolumeSource,
) -> Result<(), VolumeError> {
    let marker = ready_marker(dir).ok_or_else(|| VolumeError::BadName {
        what: "volume name",
        name: volume.to_string(),
    })?;
    if marker.exists() {
        return Ok(());
    }
    check_arguments(volume, source)?;
    // Never follows symlinks: a previous partial clone may contain some.
    mounts::remove_tree_same_device(dir).map_err(VolumeError::io("remove partial clone", dir))?;
    emptydir::setup_dir(dir)?;
    let home = tempfile::Builder::new()
        .prefix(".git-home-")
        .tempdir_in(dir.parent().unwrap_or(dir))
        .map_err(VolumeError::io("create git home next to", dir))?;
    let git = Git {
        volume,
        home: home.path(),
    };
    let directory = source.directory.as_deref().unwrap_or("");
    let mut clone = vec!["clone", "--no-recurse-submodules", "--template="];
    clone.extend(["--", source.repository.as_str()]);
    if !directory.is_empty() {
        clone.push(directory);
    }
    git.run(&clone, dir, &["clone", "--", &source.repository])?;
    if let Some(revision) = source.revision.as_deref().filter(|r| !r.is_empty()) {
        let subdir = clone_dir(dir, directory, volume)?;
        git.run(&["checkout", revision], &subdir, &["checkout", revision])?;
        git.run(&["reset", "--hard"], &subdir, &["reset", "--hard"])?;
    }
    File::create(&marker).map_err(VolumeError::io("mark volume ready", &marker))?;
    Ok(())
}

/// Refuses arguments git would read as options, and directories outside the volume (the
/// pod's validation refuses these too; the kubelet does not rely on it).
fn check_arguments(volume: &str, source: &GitRepoVolumeSource) -> Result<(), VolumeError> {
    let refuse = |what: &str, value: &str, why: &str| {
        Err(VolumeError::GitRepo {
            volume: volume.to_string(),
            message: format!("invalid {what} {value:?}: {why}"),
        })
    };
    if source.repository.is_empty() {
        return refuse("repository", "", "must not be empty");
    }
    if source.repository.starts_with('-') {
        return refuse("repository", &source.repository, "must not start with '-'");
    }
    if let Some(rev) = source.revision.as_deref().filter(|r| r.starts_with('-')) {
        return refuse("revision", rev, "must not start with '-'");
    }
    if let Some(d) = source.directory.as_deref() {
        let p = Path::new(d);
        if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            return refuse("directory", d, "must be a relative path without '..'");
        }
        if d.starts_with('-') {
            return refuse("directory", d, "must not start with '-'");
        }
    }
    Ok(())
}

/// Where the clone landed: the volume itself for `directory: "."`, the named directory, or
/// the one directory git made (upstream's rule: anything else is unexpected).
fn clone_dir(dir: &Path, directory: &str, volume: &str) -> Result<std::path::PathBuf, VolumeError> {
    let clean: std::path::PathBuf = Path::new(directory)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if !directory.is_empty() {
        return Ok(dir.join(clean));
    }
    let entries: Vec<_> = fs::read_dir(dir)
        .map_err(VolumeError::io("read", dir))?
        .filter_map(Result::ok)
        .collect();
    match entries.as_slice() {
        [one] if one.file_type().is_ok_and(|t| t.is_dir()) => Ok(one.path()),
        _ => Err(VolumeError::GitRepo {
            volume: volume.to_string(),
            message: format!(
                "unexpected directory contents: {:?}",
                entries.iter().map(|e| e.file_name()).collect::<Vec<_>>()
            ),
        }),
    }
}

/// Runs git with the hardened environment.
struct Git<'a> {
    volume: &'a str,
    home: &'a Path,
}

impl Git<'_> {
    /// Runs `git <hardening> <args>` in `cwd`; `shown` is how the command reads in errors.
    fn run(&self, args: &[&str], cwd: &Path, shown: &[&str]) -> Result<(), VolumeError> {
        let failed = |detail: String| VolumeError::GitRepo {
            volume: self.volume.to_string(),
            message: format!("failed to exec 'git {}': {detail}", shown.join(" ")),
        };
        let log_path = self.home.join("output");
        let log = File::create(&log_path).map_err(|e| failed(e.to_string()))?;
        let log2 = log.try_clone().map_err(|e| failed(e.to_string()))?;
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.home)
            .env("XDG_CONFIG_HOME", self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("LC_ALL", "C")
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for setting in HARDENING {
            cmd.args(["-c", setting]);
        }
        cmd.args(args);
        let mut child = cmd.spawn().map_err(|e| failed(e.to_string()))?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > CLONE_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(failed(format!("timed out after {CLONE_TIMEOUT:?}")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(failed(e.to_string())),
            }
        };
        if status.success() {
            return Ok(());
        }
        let output = fs::read_to_string(&log_path).unwrap_or_default();
        let exit = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => status.to_string(),
        };
        Err(failed(format!("{}: {exit}", output.trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(repo: &str, revision: Option<&str>, directory: Option<&str>) -> GitRepoVolumeSource {
        GitRepoVolumeSource {
            repository: repo.into(),
            revision: revision.map(Into::into),
            directory: directory.map(Into::into),
        }
    }

    #[test]
    fn option_like_arguments_and_escaping_directories_are_refused() {
        let ok = |s: &GitRepoVolumeSource| check_arguments("v", s);
        assert!(ok(&source("https://example.com/r", Some("abc"), Some("."))).is_ok());
        let err = ok(&source("--upload-pack=touch /x", None, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"v\" : invalid repository \"--upload-pack=touch /x\": must not start with '-'"
        );
        assert!(ok(&source("https://e/r", Some("--orphan"), None)).is_err());
        assert!(ok(&source("https://e/r", None, Some("../x"))).is_err());
        assert!(ok(&source("https://e/r", None, Some("/x"))).is_err());
    }

    #[test]
    fn local_and_ext_transports_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let init = Command::new("git")
            .args(["init", "-q"])
            .arg(&repo)
            .status()
            .unwrap();
        assert!(init.success());
        let marker = tmp.path().join("marker");
        for url in [
            repo.display().to_string(),
            format!("file://{}", repo.display()),
            format!("ext::sh -c touch% {}", marker.display()),
        ] {
            let dir = tmp.path().join("vols").join("v");
            let err = setup(&dir, "v", &source(&url, None, None)).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("failed to exec 'git clone -- "), "{text}");
            assert!(text.contains("not allowed"), "{text}");
            assert!(!marker.exists());
        }
    }
}
