//! Finding and reading the kubeconfig as kubectl does (clientcmd's loading rules, reduced to
//! one file): `--kubeconfig` wins, then the first entry of `KUBECONFIG`, then
//! `~/.kube/config`. The current context's namespace becomes the default namespace.

use std::path::{Path, PathBuf};

use super::error::CtlError;
use crate::pki::kubeconfig::{Kubeconfig, KubeconfigError};

/// A loaded kubeconfig and its current context's namespace.
pub(crate) struct Loaded {
    /// Cluster, user and credentials.
    pub kubeconfig: Kubeconfig,
    /// `contexts[current].context.namespace`, if set.
    pub namespace: Option<String>,
}

/// Which kubeconfig file to read.
pub(crate) fn kubeconfig_path(flag: Option<&Path>) -> Result<PathBuf, CtlError> {
    choose_path(
        flag,
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME"),
    )
}

fn choose_path(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, CtlError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    // KUBECONFIG is a PATH-like list; clientcmd merges them, we take the first one.
    if let Some(list) = env {
        if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
            return Ok(first);
        }
    }
    match home {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h).join(".kube").join("config")),
        _ => Err(CtlError::Usage(
            "no kubeconfig: HOME is not set; pass --kubeconfig (`bramble server` writes DATA_DIR/admin.kubeconfig)".into(),
        )),
    }
}

/// Reads the kubeconfig at `path`.
pub(crate) fn load(path: &Path) -> Result<Loaded, CtlError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CtlError::NoKubeconfig {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(bad(path, e.to_string())),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let kubeconfig = Kubeconfig::from_yaml(&text, base)
        .map_err(|e: KubeconfigError| bad(path, e.to_string()))?;
    Ok(Loaded {
        kubeconfig,
        namespace: context_namespace(&text),
    })
}

fn bad(path: &Path, message: String) -> CtlError {
    CtlError::BadKubeconfig {
        path: path.to_path_buf(),
        message,
    }
}

/// The namespace of the current context (the typed reader does not keep it).
fn context_namespace(text: &str) -> Option<String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    let current = doc.get("current-context")?.as_str()?;
    doc.get("contexts")?
        .as_sequence()?
        .iter()
        .find(|c| c.get("name").and_then(|n| n.as_str()) == Some(current))?
        .get("context")?
        .get("namespace")?
        .as_str()
        .filter(|ns| !ns.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_first_kubeconfig_entry_then_home() {
        let flag = Path::new("/flag/config");
        assert_eq!(
            choose_path(Some(flag), Some("/a:/b".into()), Some("/home/u".into())).unwrap(),
            flag
        );
        assert_eq!(
            choose_path(None, Some("/a:/b".into()), Some("/home/u".into())).unwrap(),
            Path::new("/a")
        );
        assert_eq!(
            choose_path(None, None, Some("/home/u".into())).unwrap(),
            Path::new("/home/u/.kube/config")
        );
    }

    #[test]
    fn missing_file_names_the_path_and_the_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let line = load(&path).err().unwrap().line().unwrap();
        assert!(line.contains(&path.display().to_string()), "{line}");
        assert!(line.contains("admin.kubeconfig"), "{line}");
    }

    #[test]
    fn context_namespace_is_read() {
        let yaml = "current-context: b\ncontexts:\n- name: a\n  context: {namespace: x}\n\
                    - name: b\n  context: {namespace: team}\n";
        assert_eq!(context_namespace(yaml).as_deref(), Some("team"));
        assert_eq!(context_namespace("current-context: a\n"), None);
    }
}
