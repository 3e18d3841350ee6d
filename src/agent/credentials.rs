//! A joined board's credentials: joining with the token once and keeping the result (the
//! certificate manager, `cert_rotation.rs`, renews it from then on).
//!
//! The first start posts the join token to the server over a connection pinned to the CA
//! hash the token carries, and writes what comes back as `DATA_DIR/agent/kubelet.kubeconfig`
//! (mode 0600, as k3s keeps `agent/kubelet.kubeconfig`). Later starts use that file and need
//! no token; one is needed again only when the stored certificate has expired, names
//! another node, or was issued for another server URL.

use std::path::{Path, PathBuf};

use http::Method;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::api::auth::identity_from_certificate;
use crate::api::node_certificates::{JoinRequest, JoinResponse, JOIN_PATH};
use crate::client::http::{HttpClient, HttpError};
use crate::client::retry::retry;
use crate::pki::join_token::{ca_hash, JoinToken};
use crate::pki::kubeconfig::{Credentials, Kubeconfig, KubeconfigError};

/// Where a board keeps its node credentials, under its data directory.
pub const KUBECONFIG_PATH: &str = "agent/kubelet.kubeconfig";
/// Where the server's join token is printed from, for messages.
const TOKEN_HINT: &str = "print it on the server with `sudo cat /var/lib/bramble/join-token`";

/// Why a board could not get its credentials.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The server is down or unreachable (retried until shutdown, then reported).
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// TLS failed: the server is not the one the token pins, or names another host.
    #[error("the server at {server} is not trusted: {reason}")]
    Untrusted {
        /// The server URL.
        server: String,
        /// The TLS failure.
        reason: String,
    },
    /// The server did not accept the token.
    #[error("the server refused the join token ({message}): check the token; {TOKEN_HINT}")]
    TokenRefused {
        /// The server's message.
        message: String,
    },
    /// The server refused this board (name taken, invalid name).
    #[error("the server refused to let this board join as {node:?}: {message}")]
    Rejected {
        /// The node name asked for.
        node: String,
        /// The server's message.
        message: String,
    },
    /// A token is needed and none was given.
    #[error("{why}: pass --token (or BRAMBLE_TOKEN); {TOKEN_HINT}")]
    NeedToken {
        /// Why the stored credentials cannot be used.
        why: String,
    },
    /// The server's answer was not what a Bramble server sends.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The credentials file could not be read or written.
    #[error("node credentials: {0}")]
    Kubeconfig(#[from] KubeconfigError),
    /// A client could not be built.
    #[error("{0}")]
    Client(String),
}

impl JoinError {
    fn passing(&self) -> bool {
        matches!(self, JoinError::Unreachable { .. })
    }
}

/// The stored credentials' node name and expiry, read from the client certificate.
fn stored_identity(kc: &Kubeconfig) -> Option<(String, chrono::DateTime<chrono::Utc>)> {
    let Credentials::ClientCertificate { cert_pem, .. } = &kc.credentials else {
        return None;
    };
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
    let who = identity_from_certificate(&der).ok()?;
    let node = who.node_name()?.to_string();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let expiry = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)?;
    Some((node, expiry))
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Why stored credentials cannot be used for `node_name` at `server`, or `None` if they can.
fn unusable(kc: &Kubeconfig, server: &str, node_name: &str) -> Option<String> {
    let Some((stored, expiry)) = stored_identity(kc) else {
        return Some("the stored credentials hold no node certificate".into());
    };
    if stored != node_name {
        return Some(format!(
            "the stored credentials are for node {stored:?}, not {node_name:?} (or start with --node-name {stored})"
        ));
    }
    if !same_server(&kc.server, server) {
        return Some(format!(
            "the stored credentials are for the server at {}, not {server}",
            kc.server
        ));
    }
    if expiry <= chrono::Utc::now() {
        return Some(format!("the stored node certificate expired on {expiry}"));
    }
    None
}

/// The board's credentials: the stored ones when usable with one of `servers` (all servers
/// of a cluster share its CA, so credentials any of them issued serve with all), else a
/// fresh join with `token` through the first server that answers (waiting for unreachable
/// servers until `shutdown`).
pub async fn obtain(
    servers: &[String],
    token: Option<&JoinToken>,
    data_dir: &Path,
    node_name: &str,
    shutdown: &CancellationToken,
) -> Result<Kubeconfig, JoinError> {
    let path: PathBuf = data_dir.join(KUBECONFIG_PATH);
    let server = servers.join(",");
    let server = server.as_str();
    if let Ok(kc) = Kubeconfig::load(&path) {
        let reasons: Vec<_> = servers
            .iter()
            .map(|s| unusable(&kc, s, node_name))
            .collect();
        let why = match reasons.iter().position(Option::is_none) {
            Some(_) => None,
            None => reasons.into_iter().flatten().next(),
        };
        match why {
            None => return Ok(kc),
            Some(why) if token.is_none() => return Err(JoinError::NeedToken { why }),
            Some(why) => tracing::info!(%why, "joining again"),
        }
    }
    let Some(token) = token else {
        return Err(JoinError::NeedToken {
            why: format!(
                "this board has not joined a cluster yet ({} is missing)",
                path.display()
            ),
        });
    };
    let answer = retry("joining", shutdown, JoinError::passing, || {
        join(servers, token, node_name)
    })
    .await?;
    let kc = Kubeconfig {
        cluster_name: "bramble".into(),
        user_name: format!("system:node:{node_name}"),
        server: servers.first().cloned().unwrap_or_default(),
        ca_pem: answer.ca_certificate,
        credentials: Credentials::ClientCertificate {
            cert_pem: answer.client_certificate,
            key_pem: answer.client_key,
        },
    };
    kc.write(&path)?;
    tracing::info!(node = %node_name, %server, path = %path.display(), "joined the cluster");
    Ok(kc)
}

/// A transport failure as the error it means for a join: TLS problems are final.
fn transport(server: &str, e: HttpError) -> JoinError {
    if let HttpError::Connect { source, .. } = &e {
        if let Some(tls) = source
            .get_ref()
            .and_then(|s| s.downcast_ref::<rustls::Error>())
        {
            let reason = match tls {
                // our own pin check's words, without rustls' "unexpected error:" prefix
                rustls::Error::General(message) => message.clone(),
                other => other.to_string(),
            };
            return JoinError::Untrusted {
                server: server.into(),
                reason,
            };
        }
    }
    JoinError::Unreachable {
        server: server.into(),
        reason: e.to_string(),
    }
}

async fn post<T: DeserializeOwned>(
    http: &HttpClient,
    server: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Result<T, (u16, String)>, JoinError> {
    let reply = http
        .request(
            Method::POST,
            path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body,
        )
        .await
        .map_err(|e| transport(server, e))?;
    let code = reply.status.as_u16();
    if reply.status.is_success() {
        let value =
            serde_json::from_slice(&reply.body).map_err(|e| JoinError::Protocol(e.to_string()))?;
        return Ok(Ok(value));
    }
    let message = reply.json()["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
    Ok(Err((code, message)))
}

/// One join attempt, through the first of `servers` that answers.
async fn join(
    servers: &[String],
    token: &JoinToken,
    node_name: &str,
) -> Result<JoinResponse, JoinError> {
    let tls = crate::pki::pinned_ca_tls_config(token.ca_hash())
        .map_err(|e| JoinError::Client(e.to_string()))?;
    let http = HttpClient::with_tls_servers(servers, tls, Some(token.bearer()))
        .map_err(|e| JoinError::Client(e.to_string()))?;
    let server = servers.join(",");
    let server = server.as_str();
    let body = serde_json::to_vec(&JoinRequest {
        node_name: node_name.to_string(),
    })
    .map_err(|e| JoinError::Protocol(e.to_string()))?;
    match post::<JoinResponse>(&http, server, JOIN_PATH, body).await? {
        Ok(answer) => {
            // The chain was checked against the pin; the CA handed over must be that one too.
            let handed = ca_hash(&answer.ca_certificate).unwrap_or_default();
            if handed != token.ca_hash() {
                return Err(JoinError::Untrusted {
                    server: server.into(),
                    reason: format!("it sent a CA ({handed}) other than the token's"),
                });
            }
            Ok(answer)
        }
        Err((401 | 403, message)) => Err(JoinError::TokenRefused { message }),
        Err((code, message)) if code >= 500 => Err(JoinError::Unreachable {
            server: server.into(),
            reason: format!("{code}: {message}"),
        }),
        Err((_, message)) => Err(JoinError::Rejected {
            node: node_name.into(),
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_kubeconfig(node: &str, server: &str) -> Kubeconfig {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(
            &dir.path().join("pki"),
            &crate::pki::ServerNames::default(),
        )
        .unwrap();
        let (cert_pem, key_pem) = pki
            .ca()
            .issue_client(&format!("system:node:{node}"), &["system:nodes"], 30)
            .unwrap();
        Kubeconfig {
            cluster_name: "bramble".into(),
            user_name: "n".into(),
            server: server.into(),
            ca_pem: pki.ca_pem().into(),
            credentials: Credentials::ClientCertificate { cert_pem, key_pem },
        }
    }

    #[test]
    fn stored_credentials_are_reused_only_for_the_same_node_and_server() {
        let kc = node_kubeconfig("pi-2", "https://10.0.0.1:6443");
        assert_eq!(unusable(&kc, "https://10.0.0.1:6443/", "pi-2"), None);
        let why = unusable(&kc, "https://10.0.0.1:6443", "pi-3").unwrap();
        assert!(
            why.contains("\"pi-2\", not \"pi-3\"") && why.contains("--node-name pi-2"),
            "{why}"
        );
        let why = unusable(&kc, "https://10.0.0.9:6443", "pi-2").unwrap();
        assert!(why.contains("not https://10.0.0.9:6443"), "{why}");
        let (node, expiry) = stored_identity(&kc).unwrap();
        assert_eq!(node, "pi-2");
        assert!(expiry > chrono::Utc::now() + chrono::Duration::days(29));
    }

    #[tokio::test]
    async fn without_credentials_or_token_the_message_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = obtain(
            &["https://10.0.0.1:6443".to_string()],
            None,
            dir.path(),
            "pi-2",
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("has not joined") && text.contains("--token"),
            "{text}"
        );
        assert!(text.contains("join-token"), "{text}");
    }
}
