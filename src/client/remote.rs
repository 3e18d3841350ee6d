//! The [`Client`] of a joined board: the same operations as [`LocalClient`](super::LocalClient),
//! spoken as Kubernetes REST over one HTTP/2 connection to the server. Failed answers come
//! back as the server's own `Status` (code, reason, message), so callers branch on the same
//! codes whether they run in the server or on another board; a lost connection is a 503.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::http::{HttpClient, HttpError};
use super::{Client, WatchSource};
use crate::client::options::PatchType;
use crate::client::options::{
    DeleteOptions, ListOptions, ListResult, Subresource, TypedEvent, WatchEvent, WatchOptions,
};
use crate::client::status::ApiError;
use crate::resources::ResourceType;

/// A [`Client`] talking to an API server over HTTPS.
#[derive(Clone)]
pub struct RemoteClient {
    http: Arc<HttpClient>,
}

impl RemoteClient {
    /// A client over an HTTP connection (whose kubeconfig names server, CA and credentials).
    pub fn new(http: Arc<HttpClient>) -> Self {
        Self { http }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, ApiError> {
        let reply = self
            .http
            .request(
                method,
                path,
                &[
                    ("Accept", "application/json"),
                    ("Content-Type", content_type),
                ],
                body,
            )
            .await
            .map_err(unreachable)?;
        let value = reply.json();
        if reply.status.is_success() {
            Ok(value)
        } else {
            Err(from_status(reply.status.as_u16(), &value))
        }
    }
}

/// The URL path of a collection (`name` `None`) or object, as kubectl's REST mapper builds it.
pub fn resource_path(rt: &ResourceType, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut p = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    if let (true, Some(ns)) = (rt.namespaced, namespace.filter(|n| !n.is_empty())) {
        p.push_str("/namespaces/");
        p.push_str(&encode(ns));
    }
    p.push('/');
    p.push_str(rt.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(&encode(n));
    }
    p
}

/// Percent-encodes one path segment or query value.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

/// A connection failure, as the 503 a caller retries.
fn unreachable(e: HttpError) -> ApiError {
    ApiError::unavailable(e.to_string())
}

/// Upstream reasons by name; `ApiError` keeps reasons as static strings.
const REASONS: [&str; 16] = [
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Invalid",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "MethodNotAllowed",
    "NotAcceptable",
    "Gone",
    "Expired",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "ServiceUnavailable",
    "Timeout",
];

/// An error `Status` (or any failed answer) as an [`ApiError`].
pub fn from_status(code: u16, status: &Value) -> ApiError {
    let reason = status
        .get("reason")
        .and_then(Value::as_str)
        .and_then(|r| REASONS.iter().find(|k| **k == r).copied())
        .unwrap_or("InternalError");
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the server answered {code}"));
    let mut err = ApiError::new(code, reason, message);
    if let Some(details) = status.get("details") {
        let text = |k: &str| details.get(k).and_then(Value::as_str).map(str::to_string);
        err.details.shown = true;
        err.details.name = text("name");
        err.details.group = text("group");
        err.details.kind = text("kind");
    }
    err
}

fn subresource_suffix(sub: Subresource) -> &'static str {
    match sub {
        Subresource::Main => "",
        Subresource::Status => "/status",
        Subresource::Finalize => "/finalize",
        Subresource::EphemeralContainers => "/ephemeralcontainers",
        Subresource::Approval => "/approval",
    }
}

fn to_body(v: &Value) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(ApiError::internal)
}

impl Client for RemoteClient {
    type Watch = RemoteWatch;

    async fn get(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let path = resource_path(rt, Some(namespace), Some(name));
        self.call(Method::GET, &path, "application/json", Vec::new())
            .await
    }

    async fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        let limit = if opts.limit > 0 {
            opts.limit.to_string()
        } else {
            String::new()
        };
        let q = query(&[
            ("labelSelector", &opts.label_selector),
            ("fieldSelector", &opts.field_selector),
            ("limit", &limit),
            ("continue", opts.continue_token.as_deref().unwrap_or("")),
        ]);
        let path = format!("{}{q}", resource_path(rt, namespace, None));
        let list = self
            .call(Method::GET, &path, "application/json", Vec::new())
            .await?;
        let meta = &list["metadata"];
        Ok(ListResult {
            items: list["items"].as_array().cloned().unwrap_or_default(),
            resource_version: meta["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            continue_token: meta["continue"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            remaining: meta["remainingItemCount"]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok()),
        })
    }

    async fn watch(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &WatchOptions,
    ) -> Result<RemoteWatch, ApiError> {
        let initial = if opts.send_initial_events { "true" } else { "" };
        let q = query(&[
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("labelSelector", &opts.label_selector),
            ("fieldSelector", &opts.field_selector),
            ("resourceVersion", &opts.resource_version),
            ("sendInitialEvents", initial),
        ]);
        let path = format!("{}{q}", resource_path(rt, namespace, None));
        let resp = self
            .http
            .send(
                Method::GET,
                &path,
                &[("Accept", "application/json")],
                Vec::new(),
            )
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            let code = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let status = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(from_status(code, &status));
        }
        Ok(RemoteWatch {
            body: Some(resp.into_body()),
            buf: BytesMut::new(),
        })
    }

    async fn create(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let path = resource_path(rt, Some(namespace), None);
        self.call(Method::POST, &path, "application/json", to_body(&obj)?)
            .await
    }

    async fn patch(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        sub: Subresource,
    ) -> Result<Value, ApiError> {
        let path = format!(
            "{}{}",
            resource_path(rt, Some(namespace), Some(name)),
            subresource_suffix(sub)
        );
        self.call(
            Method::PATCH,
            &path,
            patch_type.content_type(),
            to_body(patch)?,
        )
        .await
    }

    async fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(), ApiError> {
        let mut body = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        if let Some(g) = opts.grace_period_seconds {
            body["gracePeriodSeconds"] = json!(g);
        }
        if let Some(o) = opts.orphan_dependents {
            body["orphanDependents"] = json!(o);
        }
        if let Some(p) = &opts.propagation_policy {
            body["propagationPolicy"] = json!(p);
        }
        if let Some(pre) = &opts.preconditions {
            body["preconditions"] =
                json!({"uid": pre.uid, "resourceVersion": pre.resource_version});
        }
        if !opts.dry_run.is_empty() {
            body["dryRun"] = json!(opts.dry_run);
        }
        let path = resource_path(rt, Some(namespace), Some(name));
        self.call(Method::DELETE, &path, "application/json", to_body(&body)?)
            .await
            .map(|_| ())
    }

    async fn create_token(
        &self,
        namespace: &str,
        service_account: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        let path = format!(
            "{}/token",
            resource_path(
                &crate::resources::serviceaccount::RESOURCE,
                Some(namespace),
                Some(service_account)
            )
        );
        self.call(Method::POST, &path, "application/json", to_body(request)?)
            .await
    }

    async fn bind(&self, namespace: &str, pod: &str, node: &str) -> Result<(), ApiError> {
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let path = format!(
            "{}/binding",
            resource_path(&crate::resources::pod::RESOURCE, Some(namespace), Some(pod))
        );
        self.call(Method::POST, &path, "application/json", to_body(&binding)?)
            .await
            .map(|_| ())
    }
}

/// A watch over HTTP: one JSON event per line, as the server streams them.
pub struct RemoteWatch {
    body: Option<Incoming>,
    buf: BytesMut,
}

/// One watch line, its object left as text.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    type_name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    object: &'a RawValue,
}

impl RemoteWatch {
    /// The next complete line; `None` once the stream ended and nothing is left.
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                return Some(self.buf.split_to(end + 1).freeze());
            }
            let body = self.body.as_mut()?;
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "watch stream broke");
                    self.body = None;
                }
                // A last event without its newline still counts.
                None => {
                    self.body = None;
                    return Some(self.buf.split().freeze());
                }
            }
        }
    }
}

/// One watch line as an event; `None` for blank or unparseable lines.
fn parse_event(line: &[u8]) -> Option<WatchEvent> {
    let mut v: Value = serde_json::from_slice(line).ok()?;
    let object = v.get_mut("object").map(Value::take).unwrap_or(Value::Null);
    Some(match v.get("type").and_then(Value::as_str)? {
        "ADDED" => WatchEvent::Added(object),
        "MODIFIED" => WatchEvent::Modified(object),
        "DELETED" => WatchEvent::Deleted(object),
        "BOOKMARK" => WatchEvent::Bookmark(object),
        _ => WatchEvent::Error(object),
    })
}

impl WatchSource for RemoteWatch {
    async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            let line = self.next_line().await?;
            if let Some(event) = parse_event(&line) {
                return Some(event);
            }
        }
    }

    async fn next_as<K: DeserializeOwned + Send>(&mut self) -> Option<TypedEvent<K>> {
        loop {
            let line = self.next_line().await?;
            if let Ok(l) = serde_json::from_slice::<Line<'_>>(&line) {
                return Some(TypedEvent::from_text(&l.type_name, l.object.get()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_follow_the_rest_layout() {
        let pods = &crate::resources::pod::RESOURCE;
        assert_eq!(
            resource_path(pods, Some("default"), Some("web")),
            "/api/v1/namespaces/default/pods/web"
        );
        assert_eq!(resource_path(pods, None, None), "/api/v1/pods");
        let nodes = &crate::resources::node::RESOURCE;
        assert_eq!(
            resource_path(nodes, Some(""), Some("pi-2")),
            "/api/v1/nodes/pi-2"
        );
        assert_eq!(
            query(&[
                ("watch", "true"),
                ("fieldSelector", "spec.nodeName=pi 2"),
                ("limit", "")
            ]),
            "?watch=true&fieldSelector=spec.nodeName%3Dpi+2"
        );
    }

    #[test]
    fn a_status_keeps_its_code_reason_and_message() {
        let status = json!({"kind": "Status", "code": 409, "reason": "AlreadyExists",
            "message": "nodes \"pi-2\" already exists", "details": {"name": "pi-2", "kind": "nodes"}});
        let e = from_status(409, &status);
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        assert_eq!(e.message, "nodes \"pi-2\" already exists");
        assert_eq!(e.details.name.as_deref(), Some("pi-2"));
        let e = from_status(502, &Value::Null);
        assert_eq!((e.code, e.reason), (502, "InternalError"));
    }

    #[test]
    fn watch_lines_become_events() {
        let line = br#"{"type":"MODIFIED","object":{"kind":"Pod"}}"#;
        assert_eq!(
            parse_event(line),
            Some(WatchEvent::Modified(json!({"kind": "Pod"})))
        );
        assert_eq!(parse_event(b"\n"), None);
        let err = br#"{"type":"ERROR","object":{"code":410}}"#;
        assert!(matches!(parse_event(err), Some(WatchEvent::Error(_))));
    }
}
