//! The OCI image-spec and Docker schema2 documents a pull reads: index / manifest list,
//! manifest, and image config (the parts a container needs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::platform::Platform;

/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The `Accept` header of a manifest request: all four kinds.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (e.g. `org.opencontainers.image.ref.name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Index or manifest list, or single-image manifest: whichever a registry returned.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyManifest {
    /// Media type written inside the document, if any.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Index entries.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    /// Config of a single-image manifest.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Layers of a single-image manifest, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl AnyManifest {
    /// Parses manifest bytes; `content_type` is the registry's `Content-Type`, if known.
    pub fn parse(bytes: &[u8]) -> Result<AnyManifest, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))
    }

    /// Whether this is an index / manifest list.
    pub fn is_index(&self) -> bool {
        self.manifests.is_some()
            || matches!(
                self.media_type.as_deref(),
                Some(OCI_INDEX) | Some(DOCKER_LIST)
            )
    }

    /// The index entry best suited to `platform`, if any can run there.
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| Some((platform.rank(d.platform.as_ref()?)?, d)))
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, d)| d)
    }
}

/// An image configuration blob (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// Architecture the image was built for.
    #[serde(default)]
    pub architecture: String,
    /// OS the image was built for.
    #[serde(default)]
    pub os: String,
    /// Variant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Execution defaults.
    #[serde(default)]
    pub config: ContainerConfig,
    /// Uncompressed layer digests.
    #[serde(default)]
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// `sha256:` digests of the uncompressed layer tars, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// What a container inherits from its image (`config` of the image config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Default entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `user[:group]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports as `port/proto` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// Signal that stops the container (`SIGTERM` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_platform_entry_and_reads_config() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
          "manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v6"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:c","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}"#;
        let m = AnyManifest::parse(idx).unwrap();
        assert!(m.is_index());
        assert_eq!(
            m.select(&Platform::linux("arm", Some("v7")))
                .unwrap()
                .digest,
            "sha256:c"
        );
        assert_eq!(
            m.select(&Platform::linux("arm", Some("v6")))
                .unwrap()
                .digest,
            "sha256:b"
        );
        assert_eq!(
            m.select(&Platform::linux("arm64", None)).unwrap().digest,
            "sha256:c"
        );
        assert!(m.select(&Platform::linux("riscv64", None)).is_none());
        let cfg: ImageConfigFile = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"],
            "ExposedPorts":{"80/tcp":{}},"StopSignal":"SIGQUIT","WorkingDir":"/w","User":"1:2"},
            "rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#,
        )
        .unwrap();
        assert_eq!(cfg.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(cfg.config.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(cfg.rootfs.diff_ids, ["sha256:x"]);
    }
}
