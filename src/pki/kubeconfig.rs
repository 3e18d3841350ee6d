//! Kubeconfig files: written for kubectl, read back by `bramble ctl`.
//!
//! The writer emits the `clientcmd/v1` layout kubectl expects (clusters, users, contexts,
//! `current-context`, certificate data inline as base64), with keys in the order kubectl
//! itself writes them. Files hold private keys, so they are written mode 0600 through
//! [`write_atomic`]: a crash never leaves half a kubeconfig. The reader resolves
//! `current-context` and accepts both inline `*-data` fields and file paths (relative paths
//! resolve against the kubeconfig's directory, as clientcmd does).

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::atomic_file::{write_atomic, PRIVATE_MODE};

/// Errors reading or writing a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid kubeconfig YAML.
    #[error("invalid kubeconfig YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A `*-data` field is not valid base64 (or not UTF-8 PEM).
    #[error("field {0} is not valid base64-encoded PEM")]
    BadData(&'static str),
    /// `current-context` is empty.
    #[error("current-context is not set")]
    NoCurrentContext,
    /// A referenced context, cluster or user is not defined.
    #[error("{kind} {name:?} is not defined in the kubeconfig")]
    Undefined {
        /// "context", "cluster" or "user".
        kind: &'static str,
        /// The missing name.
        name: String,
    },
    /// The cluster entry carries no certificate authority.
    #[error("cluster {0:?} has no certificate-authority or certificate-authority-data")]
    NoCertificateAuthority(String),
}

/// How the user authenticates to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A client certificate and its private key, both PEM.
    ClientCertificate {
        /// Certificate PEM.
        cert_pem: String,
        /// Private key PEM.
        key_pem: String,
    },
    /// A bearer token.
    Token(String),
    /// No credentials (anonymous).
    None,
}

/// One cluster, one user and the context joining them: what Bramble writes and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubeconfig {
    /// Name of the cluster entry, e.g. `bramble`.
    pub cluster_name: String,
    /// Name of the user entry, e.g. `admin`.
    pub user_name: String,
    /// API server URL, e.g. `https://192.168.1.40:6443`.
    pub server: String,
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// How the user authenticates.
    pub credentials: Credentials,
}

#[derive(Serialize, Deserialize, Default)]
struct File {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    preferences: serde_yaml_ng::Mapping,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Serialize, Deserialize)]
struct NamedCluster {
    cluster: Cluster,
    name: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<String>,
    server: String,
}

#[derive(Serialize, Deserialize)]
struct NamedContext {
    context: Context,
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Context {
    cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    user: String,
}

#[derive(Serialize, Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    token_file: Option<String>,
}

impl Kubeconfig {
    /// Name of the context written, `<user>@<cluster>` as kubeadm names it.
    pub fn context_name(&self) -> String {
        format!("{}@{}", self.user_name, self.cluster_name)
    }

    /// Renders the kubeconfig YAML.
    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        let mut user = User::default();
        match &self.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                user.client_certificate_data = Some(STANDARD.encode(cert_pem));
                user.client_key_data = Some(STANDARD.encode(key_pem));
            }
            Credentials::Token(token) => user.token = Some(token.clone()),
            Credentials::None => {}
        }
        let file = File {
            api_version: "v1".to_string(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority: None,
                    certificate_authority_data: Some(STANDARD.encode(&self.ca_pem)),
                    server: self.server.clone(),
                },
                name: self.cluster_name.clone(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: self.cluster_name.clone(),
                    namespace: None,
                    user: self.user_name.clone(),
                },
                name: self.context_name(),
            }],
            current_context: self.context_name(),
            kind: "Config".to_string(),
            preferences: serde_yaml_ng::Mapping::new(),
            users: vec![NamedUser {
                name: self.user_name.clone(),
                user,
            }],
        };
        Ok(serde_yaml_ng::to_string(&file)?)
    }

    /// Writes the kubeconfig to `path` atomically with mode 0600.
    pub fn write(&self, path: &Path) -> Result<(), KubeconfigError> {
        let yaml = self.to_yaml()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| KubeconfigError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write_atomic(path, yaml.as_bytes(), PRIVATE_MODE).map_err(|source| KubeconfigError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a kubeconfig file, following its `current-context`.
    pub fn load(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let text = fs::read_to_string(path).map_err(|source| KubeconfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Kubeconfig::from_yaml(&text, base)
    }

    /// Parses kubeconfig YAML; relative file references resolve against `base_dir`.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let file: File = serde_yaml_ng::from_str(text)?;
        if file.current_context.is_empty() {
            return Err(KubeconfigError::NoCurrentContext);
        }
        let context = &file
            .contexts
            .iter()
            .find(|c| c.name == file.current_context)
            .ok_or_else(|| undefined("context", &file.current_context))?
            .context;
        let cluster = &file
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .ok_or_else(|| undefined("cluster", &context.cluster))?
            .cluster;
        let user = &file
            .users
            .iter()
            .find(|u| u.name == context.user)
            .ok_or_else(|| undefined("user", &context.user))?
            .user;

        let ca_pem = inline_or_file(
            cluster.certificate_authority_data.as_deref(),
            cluster.certificate_authority.as_deref(),
            "certificate-authority-data",
            base_dir,
        )?
        .ok_or_else(|| KubeconfigError::NoCertificateAuthority(context.cluster.clone()))?;
        let cert = inline_or_file(
            user.client_certificate_data.as_deref(),
            user.client_certificate.as_deref(),
            "client-certificate-data",
            base_dir,
        )?;
        let key = inline_or_file(
            user.client_key_data.as_deref(),
            user.client_key.as_deref(),
            "client-key-data",
            base_dir,
        )?;
        let credentials = match (cert, key, &user.token, &user.token_file) {
            (Some(cert_pem), Some(key_pem), _, _) => {
                Credentials::ClientCertificate { cert_pem, key_pem }
            }
            (_, _, Some(token), _) => Credentials::Token(token.clone()),
            (_, _, None, Some(token_file)) => {
                let path = base_dir.join(token_file);
                let token = fs::read_to_string(&path)
                    .map_err(|source| KubeconfigError::Io { path, source })?;
                Credentials::Token(token.trim().to_string())
            }
            _ => Credentials::None,
        };
        Ok(Kubeconfig {
            cluster_name: context.cluster.clone(),
            user_name: context.user.clone(),
            server: cluster.server.clone(),
            ca_pem,
            credentials,
        })
    }
}

fn undefined(kind: &'static str, name: &str) -> KubeconfigError {
    KubeconfigError::Undefined {
        kind,
        name: name.to_string(),
    }
}

/// Inline base64 data wins over a file reference, as in clientcmd.
fn inline_or_file(
    data: Option<&str>,
    file: Option<&str>,
    field: &'static str,
    base_dir: &Path,
) -> Result<Option<String>, KubeconfigError> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        let bytes = STANDARD
            .decode(data.trim())
            .map_err(|_| KubeconfigError::BadData(field))?;
        return String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| KubeconfigError::BadData(field));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(file) => {
            let path = base_dir.join(file);
            fs::read_to_string(&path)
                .map(Some)
                .map_err(|source| KubeconfigError::Io { path, source })
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn admin() -> Kubeconfig {
        Kubeconfig {
            cluster_name: "bramble".into(),
            user_name: "admin".into(),
            server: "https://192.168.1.40:6443".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            credentials: Credentials::ClientCertificate {
                cert_pem: "CERT".into(),
                key_pem: "KEY".into(),
            },
        }
    }

    #[test]
    fn written_file_has_kubectl_layout_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.conf");
        admin().write(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let text = fs::read_to_string(&path).unwrap();
        let expected = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    \
             server: https://192.168.1.40:6443\n  name: bramble\ncontexts:\n- context:\n    \
             cluster: bramble\n    user: admin\n  name: admin@bramble\n\
             current-context: admin@bramble\nkind: Config\npreferences: {{}}\nusers:\n\
             - name: admin\n  user:\n    client-certificate-data: {cert}\n    \
             client-key-data: {key}\n",
            ca = STANDARD.encode(admin().ca_pem),
            cert = STANDARD.encode("CERT"),
            key = STANDARD.encode("KEY"),
        );
        assert_eq!(text, expected);
        assert_eq!(Kubeconfig::load(&path).unwrap(), admin());
    }

    #[test]
    fn reader_follows_current_context_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ca.crt"), "CA PEM").unwrap();
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
            clusters:\n- name: one\n  cluster: {server: 'https://one', certificate-authority-data: Tk9QRQ==}\n\
            - name: two\n  cluster: {server: 'https://two:6443', certificate-authority: ca.crt}\n\
            contexts:\n- name: a\n  context: {cluster: one, user: u1}\n\
            - name: b\n  context: {cluster: two, user: u2}\n\
            users:\n- name: u1\n  user: {token: nope}\n- name: u2\n  user: {token: abcdef.0123456789abcdef}\n";
        let config = Kubeconfig::from_yaml(yaml, dir.path()).unwrap();
        assert_eq!(config.server, "https://two:6443");
        assert_eq!(config.ca_pem, "CA PEM");
        assert_eq!(
            config.credentials,
            Credentials::Token("abcdef.0123456789abcdef".into())
        );
    }

    #[test]
    fn missing_context_is_reported_by_name() {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: gone\n";
        let err = Kubeconfig::from_yaml(yaml, Path::new(".")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "context \"gone\" is not defined in the kubeconfig"
        );
    }
}
