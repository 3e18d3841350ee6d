//! A client for the OCI distribution API (`/v2/<name>/manifests|blobs/<ref>`): mirrors tried
//! in order before the registry itself, bearer-token auth from a `401` challenge
//! (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`, as the Docker token spec defines),
//! basic auth, and redirects followed for blobs. Errors keep the registry's own reason
//! (status and `errors[0].message`) so the kubelet can show it with `ErrImagePull`.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::auth;
use super::manifest::MANIFEST_ACCEPT;
use super::reference::Reference;
use super::registries::{Auth, Endpoint, PullSecrets, RegistryConfig};
use super::store::{sha256_digest, BlobWriter, StoreError};
use super::transport;

const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_REDIRECTS: usize = 10;
const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A failed registry interaction.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error status.
    #[error("{method} {url}: {status}: {message}")]
    Status {
        /// Request method.
        method: &'static str,
        /// Request URL.
        url: String,
        /// HTTP status, e.g. `404 Not Found`.
        status: StatusCode,
        /// The registry's `errors[0].message`, or the body text.
        message: String,
    },
    /// The registry could not be reached or the exchange broke off.
    #[error("{url}: {reason}")]
    Transport {
        /// Request URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Content did not verify, or could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A manifest larger than any real one.
    #[error("{url}: manifest larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge {
        /// Request URL.
        url: String,
    },
}

impl RegistryError {
    /// Whether the registry itself answered (as opposed to being unreachable).
    pub fn is_registry_answer(&self) -> bool {
        matches!(self, RegistryError::Status { .. } | RegistryError::Store(_))
    }
}

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The document.
    pub bytes: Vec<u8>,
    /// Its digest (verified when the request named one).
    pub digest: String,
    /// `Content-Type` as served.
    pub media_type: String,
    /// The endpoint that served it (blobs are fetched there first).
    pub endpoint: Endpoint,
}

/// Registry client with a token cache; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct RegistryClient {
    config: RegistryConfig,
    /// Authorization header values by `host|repository`.
    tokens: Mutex<HashMap<String, String>>,
}

impl RegistryClient {
    /// A client using `config` (mirrors, auth, tls).
    pub fn new(config: RegistryConfig) -> RegistryClient {
        RegistryClient {
            config,
            tokens: Mutex::default(),
        }
    }

    /// The endpoints for `reference`, mirrors first.
    pub fn endpoints(&self, reference: &Reference) -> Vec<Endpoint> {
        self.config
            .endpoints(&reference.registry, &reference.repository)
    }

    /// Fetches manifest `object` (tag or digest) of `reference`, trying each endpoint in turn.
    /// When every endpoint fails, the first error the registry itself gave wins over
    /// connection errors (a mirror's "manifest unknown" beats an unreachable default).
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
        object: &str,
        endpoints: &[Endpoint],
        secrets: &PullSecrets,
    ) -> Result<FetchedManifest, RegistryError> {
        let mut errors = Vec::new();
        for ep in endpoints {
            let url = ep.url("manifests", object);
            match self
                .fetch_manifest_at(reference, ep, &url, object, secrets)
                .await
            {
                Ok(m) => return Ok(m),
                Err(e) => {
                    tracing::debug!(url, error = %e, "manifest fetch failed; trying next endpoint");
                    errors.push(e);
                }
            }
        }
        Err(pick_error(errors))
    }

    async fn fetch_manifest_at(
        &self,
        reference: &Reference,
        ep: &Endpoint,
        url: &str,
        object: &str,
        secrets: &PullSecrets,
    ) -> Result<FetchedManifest, RegistryError> {
        let resp = self
            .get(reference, ep, url, Some(MANIFEST_ACCEPT), secrets)
            .await?;
        let media_type = header(&resp, CONTENT_TYPE).unwrap_or_default();
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transport_err(url, e))?;
            if let Some(d) = frame.data_ref() {
                bytes.extend_from_slice(d);
                if bytes.len() > MAX_MANIFEST_BYTES {
                    return Err(RegistryError::TooLarge { url: url.into() });
                }
            }
        }
        let digest = sha256_digest(&bytes);
        if object.starts_with("sha256:") && digest != object {
            return Err(StoreError::DigestMismatch {
                expected: object.into(),
                actual: digest,
            }
            .into());
        }
        Ok(FetchedManifest {
            bytes,
            digest,
            media_type,
            endpoint: ep.clone(),
        })
    }

    /// Streams blob `digest` (of `size` bytes, per its descriptor) into a writer from the first
    /// endpoint that has it. The caller commits the writer (which verifies the digest).
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        endpoints: &[Endpoint],
        secrets: &PullSecrets,
        mut new_writer: impl FnMut() -> Result<BlobWriter, StoreError>,
    ) -> Result<BlobWriter, RegistryError> {
        let mut errors = Vec::new();
        for ep in endpoints {
            let url = ep.url("blobs", digest);
            let attempt = async {
                let resp = self.get(reference, ep, &url, None, secrets).await?;
                let mut writer = new_writer()?;
                let mut body = resp.into_body();
                loop {
                    // A registry that stops sending must not stall the pull forever.
                    let frame = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame())
                        .await
                        .map_err(|_| transport_err(&url, "no data received for 60s"))?;
                    let Some(frame) = frame else { break };
                    let frame = frame.map_err(|e| transport_err(&url, e))?;
                    if let Some(d) = frame.data_ref() {
                        writer.write_chunk(d)?;
                        // More bytes than the descriptor promised can only be wrong: stop
                        // before a hostile registry fills the disk.
                        if size > 0 && writer.written() > size {
                            return Err(transport_err(
                                &url,
                                format!("blob is larger than its descriptor's {size} bytes"),
                            ));
                        }
                    }
                }
                Ok::<_, RegistryError>(writer)
            };
            match attempt.await {
                Ok(w) => return Ok(w),
                Err(e) => errors.push(e),
            }
        }
        Err(pick_error(errors))
    }

    /// GET with auth challenge handling and redirects.
    async fn get(
        &self,
        reference: &Reference,
        ep: &Endpoint,
        url: &str,
        accept: Option<&str>,
        secrets: &PullSecrets,
    ) -> Result<http::Response<Incoming>, RegistryError> {
        let key = format!("{}|{}", ep.host, ep.repository);
        let creds = self.credentials(reference, ep, secrets);
        let tls = self
            .config
            .host_config(&ep.host, &reference.registry)
            .and_then(|c| c.tls.as_ref());
        let mut authorization = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        for attempt in 0..2 {
            let resp = self
                .get_following_redirects(url, accept, authorization.as_deref(), ep, tls)
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                let challenge = header(&resp, WWW_AUTHENTICATE).unwrap_or_default();
                let value = auth::answer_challenge(
                    &challenge,
                    &ep.repository,
                    creds.as_ref(),
                    (&ep.host, tls),
                )
                .await?;
                if let Some(v) = value {
                    if let Ok(mut t) = self.tokens.lock() {
                        t.insert(key.clone(), v.clone());
                    }
                    authorization = Some(v);
                    continue;
                }
                return Err(status_error(url, resp).await);
            }
            if resp.status().is_success() {
                return Ok(resp);
            }
            return Err(status_error(url, resp).await);
        }
        Err(RegistryError::Transport {
            url: url.into(),
            reason: "authentication was refused".into(),
        })
    }

    async fn get_following_redirects(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        ep: &Endpoint,
        tls: Option<&super::registries::TlsConfig>,
    ) -> Result<http::Response<Incoming>, RegistryError> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let same_host = host_of(&current) == Some(ep.host.as_str());
            let mut headers: Vec<(HeaderName, String)> = Vec::new();
            if let Some(a) = accept {
                headers.push((ACCEPT, a.into()));
            }
            // Credentials go only to the registry itself, never to a blob store it redirects to.
            if let (Some(a), true) = (authorization, same_host) {
                headers.push((AUTHORIZATION, a.into()));
            }
            let tls_here = if same_host { tls } else { None };
            let resp = transport::send(
                http::Method::GET,
                &current,
                &headers,
                Bytes::new(),
                tls_here,
            )
            .await
            .map_err(|reason| RegistryError::Transport {
                url: current.clone(),
                reason,
            })?;
            if resp.status().is_redirection() {
                if let Some(loc) = header(&resp, LOCATION) {
                    current = resolve_location(&current, &loc);
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(RegistryError::Transport {
            url: url.into(),
            reason: "too many redirects".into(),
        })
    }

    /// Credentials for an endpoint: `registries.yaml` first, then pull secrets.
    fn credentials(
        &self,
        reference: &Reference,
        ep: &Endpoint,
        secrets: &PullSecrets,
    ) -> Option<Auth> {
        if let Some(a) = self
            .config
            .host_config(&ep.host, &reference.registry)
            .and_then(|c| c.auth.clone())
        {
            return Some(a);
        }
        if ep.is_mirror {
            secrets.lookup(&ep.host, &ep.repository).cloned()
        } else {
            secrets
                .lookup(&reference.registry, &reference.repository)
                .cloned()
        }
    }
}

/// Prefers the first answer a registry gave over transport errors.
fn pick_error(mut errors: Vec<RegistryError>) -> RegistryError {
    match errors.iter().position(RegistryError::is_registry_answer) {
        Some(i) => errors.swap_remove(i),
        None => errors.pop().unwrap_or(RegistryError::Transport {
            url: String::new(),
            reason: "no registry endpoint configured".into(),
        }),
    }
}

pub(super) fn transport_err(url: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Transport {
        url: url.into(),
        reason: e.to_string(),
    }
}

fn header(resp: &http::Response<Incoming>, name: HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The status error of `resp`, with the registry's `errors[0].message` if it sent one.
pub(super) async fn status_error(url: &str, resp: http::Response<Incoming>) -> RegistryError {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    RegistryError::Status {
        method: "GET",
        url: url.into(),
        status,
        message: registry_message(&body),
    }
}

/// `errors[0].message` of a distribution-spec error body, else the body text.
pub fn registry_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(m) = parsed.as_ref().and_then(|v| {
        v.get("errors")?
            .get(0)?
            .get("message")?
            .as_str()
            .map(str::to_string)
    }) {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no details given".into()
    } else {
        text.chars().take(300).collect()
    }
}

pub(super) fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Resolves a `Location` header against the URL that returned it.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let host = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{host}{location}")
    } else {
        let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or(base);
        format!("{dir}/{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_message() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(registry_message(body), "manifest unknown");
        assert_eq!(registry_message(b"denied\n"), "denied");
        assert_eq!(registry_message(b""), "no details given");
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(
            resolve_location("http://r:5000/v2/x/blobs/d", "/store/d"),
            "http://r:5000/store/d"
        );
        assert_eq!(
            resolve_location("http://r/v2/x", "https://s3/b?sig=1"),
            "https://s3/b?sig=1"
        );
        assert_eq!(host_of("http://r:5000/v2"), Some("r:5000"));
    }
}
