//! The manifest directory as a source of static pods: every `*.yaml`, `*.yml` and `*.json`
//! file in it (hidden files aside) is read at each scan, [`RESCAN`] apart as upstream's
//! file source does. A file that holds no usable pod is logged once per distinct reason
//! and skipped; a pod whose name another file already took is skipped the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::manifest;

/// How often the directory is read again (upstream's file check frequency).
pub const RESCAN: Duration = Duration::from_secs(20);

/// The directory and what earlier scans learnt.
#[derive(Debug)]
pub struct ManifestDir {
    dir: PathBuf,
    node: String,
    /// When each uid was first seen, so a rescan does not change a pod.
    seen: HashMap<String, String>,
    /// The problem last logged per file.
    logged: HashMap<PathBuf, String>,
}

impl ManifestDir {
    /// The directory `dir` for node `node`.
    pub fn new(dir: &Path, node: &str) -> Self {
        ManifestDir {
            dir: dir.to_path_buf(),
            node: node.to_string(),
            seen: HashMap::new(),
            logged: HashMap::new(),
        }
    }

    /// Logs `problem` for `path` unless it was the last one logged for it.
    fn report(&mut self, path: &Path, problem: String) {
        if self.logged.get(path) != Some(&problem) {
            tracing::warn!(file = %path.display(), %problem, "static pod manifest skipped");
            self.logged.insert(path.to_path_buf(), problem);
        }
    }

    /// The static pods the directory defines now, by name.
    pub fn scan(&mut self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_manifest(p))
                .collect(),
            Err(e) => {
                let dir = self.dir.clone();
                self.report(&dir, format!("cannot read the directory: {e}"));
                return Vec::new();
            }
        };
        files.sort();
        let mut pods: BTreeMap<(String, String), Value> = BTreeMap::new();
        let mut uids = HashSet::new();
        for path in files {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| manifest::parse(&t).map_err(|e| e.to_string()));
            let docs = match parsed {
                Ok(d) => d,
                Err(problem) => {
                    self.report(&path, problem);
                    continue;
                }
            };
            self.logged.remove(&path);
            for doc in docs {
                let uid = manifest::uid(&doc, &self.node);
                let seen = self
                    .seen
                    .entry(uid.clone())
                    .or_insert_with(|| {
                        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    })
                    .clone();
                let pod = manifest::static_pod(&doc, &self.node, &seen);
                let key = (
                    pod["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
                );
                if pods.contains_key(&key) {
                    self.report(&path, format!("pod {}/{} is defined twice", key.0, key.1));
                    continue;
                }
                uids.insert(uid);
                pods.insert(key, pod);
            }
        }
        // forget first-seen times of manifests that are gone: one coming back is new
        self.seen.retain(|uid, _| uids.contains(uid));
        pods.into_values().collect()
    }
}

/// Whether `path` names a manifest: a visible file ending in `.yaml`, `.yml` or `.json`.
fn is_manifest(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .map_or(true, |n| n.starts_with('.'));
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    !hidden && matches!(ext, "yaml" | "yml" | "json") && path.is_file()
}

/// Scans `dir` every [`RESCAN`] until `shutdown`, publishing the static pods when they
/// change.
pub async fn run(mut dir: ManifestDir, tx: watch::Sender<Vec<Value>>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RESCAN) => {}
            _ = shutdown.cancelled() => return,
        }
        let scanned = tokio::task::spawn_blocking(move || {
            let pods = dir.scan();
            (dir, pods)
        })
        .await;
        let Ok((back, pods)) = scanned else {
            tracing::error!(
                "scanning the static pod directory failed; static pods are no longer updated"
            );
            return;
        };
        dir = back;
        tx.send_if_modified(|current| {
            if *current == pods {
                return false;
            }
            *current = pods;
            true
        });
    }
}
