//! Registry configuration in k3s' `registries.yaml` format: per-registry mirrors (an ordered
//! `endpoint` list, plain `http://` allowed, plus `rewrite` rules for repository names) and
//! per-host `configs` with `auth` and `tls`. A missing file means no mirrors; every registry
//! is then reached at its own https endpoint (`docker.io` at `registry-1.docker.io`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// The host Docker Hub's distribution API is served from.
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// Why `registries.yaml` or a pull secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read registry configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid `registries.yaml`.
    #[error("invalid registry configuration {path}: {reason}; fix the file and restart")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An image pull secret is not a valid `.dockerconfigjson` document.
    #[error("invalid image pull secret: {0}; it must hold a .dockerconfigjson document")]
    PullSecret(String),
}

/// The whole `registries.yaml` document.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryConfig {
    /// Mirrors keyed by registry name (`docker.io`, or `*` for every registry).
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Connection settings keyed by registry or endpoint host.
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
}

/// Mirrors of one registry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mirror {
    /// Endpoint URLs tried in order before the registry's own endpoint.
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Repository rewrites (Go regex → replacement with `$1`) applied at mirror endpoints.
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// Connection settings for one host.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostConfig {
    /// Credentials.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// TLS settings.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// Registry credentials, as in `registries.yaml` and `.dockerconfigjson`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Auth {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// base64 of `username:password`.
    #[serde(default)]
    pub auth: Option<String>,
    /// An OAuth2 refresh token used to obtain bearer tokens.
    #[serde(default, alias = "identity_token", alias = "identityToken")]
    pub identitytoken: Option<String>,
}

impl Auth {
    /// The user name and password, decoding `auth` when the fields are not given directly.
    pub fn user_password(&self) -> Option<(String, String)> {
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            return Some((u.clone(), p.clone()));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.auth.as_deref()?.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }
}

/// TLS settings for one host.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TlsConfig {
    /// Accept any server certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Extra CA bundle (PEM) trusted for this host.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// One place to fetch a repository from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and optional port.
    pub host: String,
    /// Path prefix of the API (`/v2` unless the endpoint URL gives its own path).
    pub api_path: String,
    /// Repository name at this endpoint (after rewrites).
    pub repository: String,
    /// Whether this is a mirror rather than the registry itself.
    pub is_mirror: bool,
}

impl Endpoint {
    /// The URL of `kind` (`manifests` or `blobs`) `object` in this endpoint's repository.
    pub fn url(&self, kind: &str, object: &str) -> String {
        format!(
            "{}://{}{}/{}/{}/{}",
            self.scheme, self.host, self.api_path, self.repository, kind, object
        )
    }
}

impl RegistryConfig {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<RegistryConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => RegistryConfig::parse(&text).map_err(|reason| ConfigError::Invalid {
                path: path.to_path_buf(),
                reason,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistryConfig::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses the YAML text of a `registries.yaml`.
    pub fn parse(text: &str) -> Result<RegistryConfig, String> {
        if text.trim().is_empty() {
            return Ok(RegistryConfig::default());
        }
        let cfg: RegistryConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        for (name, m) in &cfg.mirrors {
            for e in &m.endpoint {
                parse_endpoint_url(e).map_err(|r| format!("mirror {name:?}: {r}"))?;
            }
            for pattern in m.rewrite.keys() {
                regex::Regex::new(pattern)
                    .map_err(|e| format!("mirror {name:?}: rewrite {pattern:?}: {e}"))?;
            }
        }
        Ok(cfg)
    }

    /// The endpoints to try for `repository` on `registry`, mirrors first, in order.
    pub fn endpoints(&self, registry: &str, repository: &str) -> Vec<Endpoint> {
        let mirror = self.mirrors.get(registry).or_else(|| self.mirrors.get("*"));
        let mut out = Vec::new();
        if let Some(m) = mirror {
            let repo = m.rewritten(repository);
            for url in &m.endpoint {
                if let Ok((scheme, host, path)) = parse_endpoint_url(url) {
                    out.push(Endpoint {
                        scheme,
                        host,
                        api_path: path,
                        repository: repo.clone(),
                        is_mirror: true,
                    });
                }
            }
        }
        let host = if registry == super::reference::DEFAULT_REGISTRY {
            DOCKER_HUB_ENDPOINT.to_string()
        } else {
            registry.to_string()
        };
        let default = Endpoint {
            scheme: "https".into(),
            host,
            api_path: "/v2".into(),
            repository: repository.to_string(),
            is_mirror: false,
        };
        if !out.contains(&default) {
            out.push(default);
        }
        out
    }

    /// Settings for `endpoint_host`, falling back to those of `registry`.
    pub fn host_config(&self, endpoint_host: &str, registry: &str) -> Option<&HostConfig> {
        self.configs
            .get(endpoint_host)
            .or_else(|| self.configs.get(registry))
    }
}

impl Mirror {
    /// Applies the first matching rewrite rule (patterns in sorted order, as k3s iterates them).
    fn rewritten(&self, repository: &str) -> String {
        for (pattern, replacement) in &self.rewrite {
            if let Ok(re) = regex::Regex::new(pattern) {
                if re.is_match(repository) {
                    return re.replace(repository, replacement.as_str()).into_owned();
                }
            }
        }
        repository.to_string()
    }
}

/// Splits an endpoint URL into scheme, host and API path (`https` and `/v2` by default).
fn parse_endpoint_url(url: &str) -> Result<(String, String, String), String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_string(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("endpoint {url:?} must use http or https"));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("endpoint {url:?} has no host"));
    }
    let path = if path.is_empty() { "/v2" } else { path };
    Ok((scheme, host.to_string(), path.to_string()))
}

/// Credentials from the `.dockerconfigjson` key of `kubernetes.io/dockerconfigjson` secrets.
#[derive(Debug, Clone, Default)]
pub struct PullSecrets {
    entries: Vec<(String, Auth)>,
}

#[derive(Deserialize)]
struct DockerConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Auth>,
}

impl PullSecrets {
    /// Parses each secret's `.dockerconfigjson` bytes (a legacy `.dockercfg` map also works).
    pub fn parse(secrets: &[Vec<u8>]) -> Result<PullSecrets, ConfigError> {
        let mut entries = Vec::new();
        for raw in secrets {
            let value: serde_json::Value =
                serde_json::from_slice(raw).map_err(|e| ConfigError::PullSecret(e.to_string()))?;
            let auths: BTreeMap<String, Auth> = if value.get("auths").is_some() {
                serde_json::from_value::<DockerConfigJson>(value)
                    .map_err(|e| ConfigError::PullSecret(e.to_string()))?
                    .auths
            } else {
                serde_json::from_value(value).map_err(|e| ConfigError::PullSecret(e.to_string()))?
            };
            for (key, auth) in auths {
                entries.push((normalize_key(&key), auth));
            }
        }
        Ok(PullSecrets { entries })
    }

    /// The credentials for `registry/repository`, the longest matching key winning (as the
    /// kubelet's `credentialprovider.BasicDockerKeyring` matches by host and path prefix).
    pub fn lookup(&self, registry: &str, repository: &str) -> Option<&Auth> {
        let target = format!("{}/{}", normalize_key(registry), repository);
        self.entries
            .iter()
            .filter(|(k, _)| {
                target == *k || target.starts_with(&format!("{}/", k.trim_end_matches('/')))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, a)| a)
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `host/path` keeps its path.
fn normalize_key(key: &str) -> String {
    let rest = key.split_once("://").map(|(_, r)| r).unwrap_or(key);
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match host {
        "index.docker.io" | DOCKER_HUB_ENDPOINT => "docker.io",
        h => h,
    };
    let path = if host == "docker.io" && (path == "v1" || path == "v2") {
        ""
    } else {
        path
    };
    if path.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example.com/custom/v2/"
    rewrite:
      "^rancher/(.*)": "mirrored/rancher/$1"
configs:
  "127.0.0.1:5000":
    auth:
      username: u
      password: p
  mirror.example.com:
    auth:
      auth: dXNlcjpzZWNyZXQ=
      identity_token: tok
    tls:
      insecure_skip_verify: true
      ca_file: /etc/ca.pem
"#;

    #[test]
    fn mirrors_then_default_endpoint() {
        let cfg = RegistryConfig::parse(YAML).unwrap();
        let eps = cfg.endpoints("docker.io", "library/redis");
        let urls: Vec<_> = eps.iter().map(|e| e.url("manifests", "latest")).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:5000/v2/library/redis/manifests/latest",
                "https://mirror.example.com/custom/v2/library/redis/manifests/latest",
                "https://registry-1.docker.io/v2/library/redis/manifests/latest",
            ]
        );
        let eps = cfg.endpoints("docker.io", "rancher/pause");
        assert_eq!(eps[0].repository, "mirrored/rancher/pause");
        assert_eq!(
            eps[2].repository, "rancher/pause",
            "no rewrite at the registry itself"
        );
        let eps = cfg.endpoints("ghcr.io", "o/x");
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url("blobs", "d"), "https://ghcr.io/v2/o/x/blobs/d");
    }

    #[test]
    fn configs_auth_and_tls() {
        let cfg = RegistryConfig::parse(YAML).unwrap();
        let c = cfg.host_config("mirror.example.com", "docker.io").unwrap();
        let auth = c.auth.as_ref().unwrap();
        assert_eq!(auth.user_password(), Some(("user".into(), "secret".into())));
        assert_eq!(auth.identitytoken.as_deref(), Some("tok"));
        assert!(c.tls.as_ref().unwrap().insecure_skip_verify);
        let c = cfg.host_config("127.0.0.1:5000", "docker.io").unwrap();
        assert_eq!(
            c.auth.as_ref().unwrap().user_password(),
            Some(("u".into(), "p".into()))
        );
    }

    #[test]
    fn missing_file_means_no_mirrors_and_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RegistryConfig::load(&dir.path().join("registries.yaml")).unwrap();
        assert!(cfg.mirrors.is_empty());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n",
        )
        .unwrap();
        let e = RegistryConfig::load(&bad).unwrap_err().to_string();
        assert!(e.contains("must use http or https"), "{e}");
    }

    #[test]
    fn pull_secret_lookup() {
        let secret = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"},
            "ghcr.io/org":{"username":"o","password":"q"}}}"#;
        let s = PullSecrets::parse(&[secret.to_vec()]).unwrap();
        let hub = s.lookup("docker.io", "library/redis").unwrap();
        assert_eq!(hub.user_password(), Some(("a".into(), "b".into())));
        assert!(s.lookup("ghcr.io", "org/app").is_some());
        assert!(s.lookup("ghcr.io", "other/app").is_none());
        assert!(PullSecrets::parse(&[b"not json".to_vec()]).is_err());
    }
}
