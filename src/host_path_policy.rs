//! Which host paths pods and PersistentVolumes may use: an allow-list of path prefixes plus
//! prefixes that are always refused, checked both by API admission (on the server's disk) and
//! by the kubelet (on the board that mounts the path, since symlinks resolve differently on
//! each board).
//!
//! A hostPath of `/etc` or `/` hands a container the node; upstream leaves that to Pod
//! Security admission, which refuses every hostPath from `baseline` up, but namespaces are
//! `privileged` unless labelled, so the node's own policy decides there too. A path
//! is normalised lexically first (`/tmp/../etc` is `/etc`), then the longest existing part of
//! it is resolved through symlinks (`/tmp/link/passwd` with `/tmp/link -> /etc` is
//! `/etc/passwd`); both forms must pass. Refused prefixes win over allowed ones, so the data
//! directory stays refused even when it lives under an allowed prefix such as `/tmp`.

use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Prefixes allowed when the administrator gives none. A trailing `/` means "strictly
/// below": `/dev/` allows device nodes such as `/dev/ttyUSB0` but not `/dev` itself.
pub const DEFAULT_ALLOWED: [&str; 6] = ["/mnt", "/media", "/srv", "/opt", "/tmp", "/dev/"];

/// Prefixes no allow-list can open: the root (exactly), the system's configuration, kernel
/// interfaces, root's home and the boot partition. The data directory is added per node.
const ALWAYS_REFUSED: [&str; 6] = ["/", "/etc", "/proc", "/sys", "/root", "/boot"];

/// One allowed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    path: PathBuf,
    /// Written with a trailing `/`: the prefix itself is not allowed, only what is below it.
    strictly_below: bool,
}

impl Prefix {
    fn parse(text: &str) -> Self {
        let strictly_below = text.len() > 1 && text.ends_with('/');
        Prefix {
            path: normalize(Path::new(text)),
            strictly_below,
        }
    }

    fn covers(&self, path: &Path) -> bool {
        path.starts_with(&self.path) && !(self.strictly_below && path == self.path)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.strictly_below {
            f.write_str("/")?;
        }
        Ok(())
    }
}

/// Which host paths may be mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPolicy {
    /// `None`: any path that is not refused.
    allowed: Option<Vec<Prefix>>,
    /// Refused prefixes; `/` is refused only as itself.
    refused: Vec<PathBuf>,
}

/// Why a host path is not allowed; displays as the rule, e.g. `/etc is refused (allowed
/// prefixes: /mnt, /tmp)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule} (allowed prefixes: {allowed})")]
pub struct HostPathDenied {
    /// The rule that refused it.
    pub rule: String,
    /// The allowed prefixes, comma-separated.
    pub allowed: String,
}

impl HostPathPolicy {
    /// Any path, as upstream's kubelet does (for tests and single-user boards).
    pub fn allow_all() -> Self {
        HostPathPolicy {
            allowed: None,
            refused: Vec::new(),
        }
    }

    /// Paths under one of `allowed` (empty: [`DEFAULT_ALLOWED`]), never the always-refused
    /// prefixes nor `data_dir` (Bramble's own state: certificates, store, other pods' data).
    pub fn new<S: AsRef<str>>(allowed: &[S], data_dir: &Path) -> Self {
        let allowed: Vec<Prefix> = if allowed.is_empty() {
            DEFAULT_ALLOWED.iter().map(|p| Prefix::parse(p)).collect()
        } else {
            allowed.iter().map(|p| Prefix::parse(p.as_ref())).collect()
        };
        let mut refused: Vec<PathBuf> = ALWAYS_REFUSED.iter().map(PathBuf::from).collect();
        let data = normalize(&absolute(data_dir));
        refused.push(resolve(&data));
        refused.push(data);
        refused.dedup();
        HostPathPolicy {
            allowed: Some(allowed),
            refused,
        }
    }

    /// The allowed prefixes as users write them, comma-separated (`any` when unrestricted).
    pub fn allowed_list(&self) -> String {
        match &self.allowed {
            None => "any".to_string(),
            Some(list) => list
                .iter()
                .map(Prefix::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Checks `path` as seen on this machine's filesystem.
    pub fn check(&self, path: &str) -> Result<(), HostPathDenied> {
        if self.allowed.is_none() && self.refused.is_empty() {
            return Ok(());
        }
        let deny = |rule: String| HostPathDenied {
            rule,
            allowed: self.allowed_list(),
        };
        let given = Path::new(path);
        if !given.is_absolute() {
            return Err(deny(format!("{path} is not an absolute path")));
        }
        let lexical = normalize(given);
        self.check_one(&lexical).map_err(&deny)?;
        let resolved = resolve(&lexical);
        if resolved != lexical {
            self.check_one(&resolved).map_err(|rule| {
                deny(format!(
                    "it resolves through symlinks to {}; {rule}",
                    resolved.display()
                ))
            })?;
        }
        Ok(())
    }

    /// Splits an allowed `path` into the allowed prefix it lies under (the longest one; `/`
    /// when any path is allowed) and the lexical rest below it: the kubelet opens the prefix
    /// and walks the rest without following symlinks, so what it mounts is what was checked.
    pub fn mount_root(&self, path: &str) -> Result<(PathBuf, PathBuf), HostPathDenied> {
        self.check(path)?;
        let lexical = normalize(Path::new(path));
        let root = match &self.allowed {
            None => PathBuf::from("/"),
            Some(list) => list
                .iter()
                .filter(|p| p.covers(&lexical))
                .map(|p| p.path.clone())
                .max_by_key(|p| p.components().count())
                .unwrap_or_else(|| PathBuf::from("/")),
        };
        let rest = lexical
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok((root, rest))
    }

    fn check_one(&self, path: &Path) -> Result<(), String> {
        let root = Path::new("/");
        if let Some(r) = self
            .refused
            .iter()
            .filter(|r| r.as_path() != root || path == root)
            .find(|r| path.starts_with(r))
        {
            return Err(format!("{} is refused", r.display()));
        }
        match &self.allowed {
            Some(list) if !list.iter().any(|p| p.covers(path)) => {
                Err(format!("{} is not under an allowed prefix", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// `path` made absolute against the working directory (a relative `--data-dir`).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Lexical normalisation of an absolute path: drops `.` and empty components, applies `..`
/// (never above `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Resolves symlinks in the longest existing leading part of `path` and appends the rest:
/// what a bind mount of `path` would reach once the missing part is created as directories.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(&existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn policy() -> HostPathPolicy {
        HostPathPolicy::new::<&str>(&[], Path::new("/var/lib/bramble"))
    }

    #[test]
    fn default_prefixes_and_refusals() {
        let p = policy();
        p.check("/mnt/x").unwrap();
        p.check("/tmp").unwrap();
        p.check("/dev/null").unwrap();
        let err = p.check("/etc/passwd").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc is refused (allowed prefixes: /mnt, /media, /srv, /opt, /tmp, /dev/)"
        );
        assert_eq!(p.check("/").unwrap_err().rule, "/ is refused");
        assert_eq!(
            p.check("/dev").unwrap_err().rule,
            "/dev is not under an allowed prefix"
        );
        assert_eq!(
            p.check("/var/log").unwrap_err().rule,
            "/var/log is not under an allowed prefix"
        );
        assert_eq!(
            p.check("/var/lib/bramble/pki").unwrap_err().rule,
            "/var/lib/bramble is refused"
        );
        assert_eq!(p.check("/tmp/../etc").unwrap_err().rule, "/etc is refused");
        assert_eq!(
            p.check("/mnt/./../root").unwrap_err().rule,
            "/root is refused"
        );
        assert_eq!(
            p.check("mnt/x").unwrap_err().rule,
            "mnt/x is not an absolute path"
        );
        assert!(p.check("/mntx").is_err());
    }

    #[test]
    fn symlinks_are_resolved_and_both_forms_must_pass() {
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        let link = tmp.path().join("link");
        symlink("/etc", &link).unwrap();
        let p = policy();
        let err = p.check(&format!("{}/passwd", link.display())).unwrap_err();
        assert_eq!(
            err.rule,
            "it resolves through symlinks to /etc/passwd; /etc is refused"
        );
        let missing = format!("{}/not/yet", link.display());
        assert!(p.check(&missing).unwrap_err().rule.contains("/etc/not/yet"));
        let fine = tmp.path().join("dir");
        fs::create_dir(&fine).unwrap();
        p.check(&fine.display().to_string()).unwrap();
    }

    #[test]
    fn mount_roots_are_the_longest_allowed_prefix() {
        let p = HostPathPolicy::new(&["/srv", "/srv/data/", "/dev/"], Path::new("/var/lib/b"));
        let split = |path: &str| p.mount_root(path).unwrap();
        assert_eq!(split("/srv/x/y"), ("/srv".into(), "x/y".into()));
        assert_eq!(split("/srv/data/./a/"), ("/srv/data".into(), "a".into()));
        assert_eq!(split("/srv/data"), ("/srv".into(), "data".into()));
        assert_eq!(split("/srv"), ("/srv".into(), PathBuf::new()));
        assert_eq!(split("/dev/null"), ("/dev".into(), "null".into()));
        assert!(p.mount_root("/etc").is_err());
        let any = HostPathPolicy::allow_all().mount_root("/a/b").unwrap();
        assert_eq!(any, ("/".into(), "a/b".into()));
    }

    #[test]
    fn data_dir_is_refused_even_under_an_allowed_prefix() {
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        let p = HostPathPolicy::new(&["/tmp"], tmp.path());
        let inside = tmp.path().join("store");
        assert!(p
            .check(&inside.display().to_string())
            .unwrap_err()
            .rule
            .ends_with("is refused"));
        p.check("/tmp/other").unwrap();
        assert_eq!(p.allowed_list(), "/tmp");
        HostPathPolicy::allow_all().check("/etc").unwrap();
    }
}
