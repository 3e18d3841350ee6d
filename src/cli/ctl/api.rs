//! The REST calls `bramble ctl` makes: paths built from a [`ResourceType`] as kubectl's REST
//! mapper builds them, JSON bodies, and failed answers turned into [`CtlError::Server`] from
//! the `meta/v1 Status` the server sends.

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::error::CtlError;
use crate::client::http::{HttpClient, Reply};
use crate::pki::kubeconfig::Kubeconfig;

/// `Accept` asking for a server-side `meta.k8s.io/v1` Table, as kubectl's `get` sends it.
pub(crate) const ACCEPT_TABLE: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
/// Plain JSON objects.
pub(crate) const ACCEPT_JSON: &str = "application/json";

/// A connection to the API server.
pub(crate) struct Api {
    http: Arc<HttpClient>,
}

pub(crate) use crate::client::remote::{encode, resource_path as path};

impl Api {
    /// A client for the kubeconfig's cluster and user.
    pub fn new(kc: &Kubeconfig) -> Result<Api, CtlError> {
        Ok(Api {
            http: HttpClient::new(kc)?,
        })
    }

    /// GET with the given `Accept`; the JSON answer or the server's error.
    pub async fn get(&self, path: &str, accept: &str) -> Result<Value, CtlError> {
        let reply = self
            .http
            .request(Method::GET, path, &[("Accept", accept)], Vec::new())
            .await?;
        answer(reply)
    }

    /// POST a new object.
    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value, CtlError> {
        self.write(Method::POST, path, "application/json", obj)
            .await
    }

    /// PATCH with the given patch content type.
    pub async fn patch(
        &self,
        path: &str,
        content_type: &str,
        patch: &Value,
    ) -> Result<Value, CtlError> {
        self.write(Method::PATCH, path, content_type, patch).await
    }

    /// DELETE with kubectl's default body (background propagation).
    pub async fn delete(&self, path: &str) -> Result<Value, CtlError> {
        let body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        self.write(Method::DELETE, path, "application/json", &body)
            .await
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value, CtlError> {
        let bytes = serde_json::to_vec(body).map_err(|e| CtlError::Usage(e.to_string()))?;
        let reply = self
            .http
            .request(
                method,
                path,
                &[("Content-Type", content_type), ("Accept", ACCEPT_JSON)],
                bytes,
            )
            .await?;
        answer(reply)
    }
}

/// A 2xx answer's JSON, or the failure as kubectl reports it.
fn answer(reply: Reply) -> Result<Value, CtlError> {
    let body = reply.json();
    if reply.status.is_success() {
        return Ok(body);
    }
    Err(server_error(reply.status.as_u16(), &body, &reply.body))
}

/// Upstream's `errors.FromObject`: a `Status` body gives reason and message; anything else is
/// reported with the HTTP status and the start of the body.
fn server_error(code: u16, body: &Value, raw: &[u8]) -> CtlError {
    if body.get("kind").and_then(Value::as_str) == Some("Status") {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        return CtlError::Server {
            reason: text("reason"),
            message: text("message"),
            code,
        };
    }
    let snippet: String = String::from_utf8_lossy(raw).chars().take(200).collect();
    CtlError::Server {
        reason: String::new(),
        message: format!("the server answered {code}: {}", snippet.trim()),
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{node, pod, storageclass};

    #[test]
    fn paths_follow_the_rest_layout() {
        assert_eq!(
            path(&pod::RESOURCE, Some("default"), Some("x")),
            "/api/v1/namespaces/default/pods/x"
        );
        assert_eq!(path(&pod::RESOURCE, None, None), "/api/v1/pods");
        assert_eq!(
            path(&node::RESOURCE, Some("default"), Some("pi")),
            "/api/v1/nodes/pi"
        );
        assert_eq!(
            path(&storageclass::RESOURCE, None, Some("local")),
            "/apis/storage.k8s.io/v1/storageclasses/local"
        );
    }

    #[test]
    fn status_bodies_become_kubectl_errors() {
        let status = serde_json::json!({"kind": "Status", "reason": "AlreadyExists",
            "message": "pods \"x\" already exists", "code": 409});
        let e = server_error(409, &status, b"");
        assert_eq!(
            e.line().unwrap(),
            "Error from server (AlreadyExists): pods \"x\" already exists"
        );
    }
}
