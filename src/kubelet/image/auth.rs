//! Registry authentication as the Docker token spec describes it: a `401` carries
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client gets a token from the
//! realm (with basic credentials, or exchanging an identity token through the OAuth2 POST
//! flow) and retries with `Authorization: Bearer …`. `Basic` challenges take credentials as is.

use std::collections::HashMap;

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http_body_util::BodyExt;

use super::client::{host_of, status_error, transport_err, RegistryError};
use super::registries::{Auth, TlsConfig};
use super::transport;

/// Turns a `WWW-Authenticate` challenge into an `Authorization` value, if possible.
pub(super) async fn answer_challenge(
    challenge: &str,
    repository: &str,
    creds: Option<&Auth>,
    registry_tls: (&str, Option<&TlsConfig>),
) -> Result<Option<String>, RegistryError> {
    let (scheme, params) = parse_challenge(challenge);
    if scheme.eq_ignore_ascii_case("basic") {
        return Ok(creds
            .and_then(Auth::user_password)
            .map(|(u, p)| basic(&u, &p)));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let Some(realm) = params.get("realm") else {
        return Ok(None);
    };
    // A token server on the registry's own host is reached with the registry's TLS settings.
    let (registry_host, tls) = registry_tls;
    let tls = tls.filter(|_| host_of(realm) == Some(registry_host));
    let scope = params
        .get("scope")
        .cloned()
        .unwrap_or_else(|| format!("repository:{}:pull", repository));
    let service = params.get("service").cloned().unwrap_or_default();
    // Built before any await: the serializer is not `Send`.
    let query = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !service.is_empty() {
            q.append_pair("service", &service);
        }
        q.append_pair("scope", &scope);
        q.finish()
    };
    let resp = match creds.and_then(|c| c.identitytoken.clone()) {
        // An identity token is exchanged with the OAuth2 POST flow (Docker token spec).
        Some(refresh) => {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("service", &service)
                .append_pair("scope", &scope)
                .append_pair("client_id", "bramble")
                .append_pair("refresh_token", &refresh)
                .finish();
            let headers = [(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded".to_string(),
            )];
            transport::send(http::Method::POST, realm, &headers, Bytes::from(body), tls).await
        }
        None => {
            let token_url = format!(
                "{realm}{}{}",
                if realm.contains('?') { "&" } else { "?" },
                query
            );
            let mut headers = Vec::new();
            if let Some((u, p)) = creds.and_then(Auth::user_password) {
                headers.push((AUTHORIZATION, basic(&u, &p)));
            }
            transport::send(http::Method::GET, &token_url, &headers, Bytes::new(), tls).await
        }
    }
    .map_err(|reason| RegistryError::Transport {
        url: realm.clone(),
        reason,
    })?;
    if !resp.status().is_success() {
        return Err(status_error(realm, resp).await);
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| transport_err(realm, e))?
        .to_bytes();
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| RegistryError::Transport {
            url: realm.clone(),
            reason: format!("invalid token response: {e}"),
        })?;
    let token = json
        .get("token")
        .or_else(|| json.get("access_token"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| RegistryError::Transport {
            url: realm.clone(),
            reason: "token response has no token".into(),
        })?;
    Ok(Some(format!("Bearer {token}")))
}

pub(super) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Splits `Bearer realm="x",service="y"` into the scheme and its parameters.
pub fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/redis:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
    }
}
