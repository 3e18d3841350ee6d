//! `POST /bramble/v1/join`: a board holding the join token gets its node credentials.
//!
//! The caller authenticates with the token's bearer part (identity `system:bootstrap:<id>`,
//! group `system:bootstrappers`, which may call nothing else) over a connection it has
//! already checked against the token's CA pin. It sends `{"nodeName": ..., "addresses":
//! [...]}` and receives the cluster CA, a client certificate for `system:node:<name>` in
//! `system:nodes` (what the Node authorizer expects of a kubelet) and a serving certificate
//! for the board's kubelet, keys included, as k3s' server hands out kubelet certificates.
//! A name whose kubelet is alive elsewhere is refused: two Raspberry Pi OS boards both
//! called `raspberrypi` must not share one Node.

use std::net::IpAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::body::{self, ResponseBody};
use super::registry::Registry;
use super::status::ApiError;
use crate::api::auth::{NODES_GROUP, NODE_USER_PREFIX};
use crate::pki::Pki;
use crate::resources::field_error::FieldError;
use crate::resources::node;
use crate::resources::validation::names::is_dns1123_subdomain;

/// The path boards post to.
pub const JOIN_PATH: &str = "/bramble/v1/join";
/// Validity of node certificates.
pub const NODE_CERT_DAYS: u64 = 365;

/// What a joining board sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The board's node name.
    pub node_name: String,
    /// The board's addresses, for its kubelet's serving certificate.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// What the server answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// The cluster CA (PEM).
    pub ca_certificate: String,
    /// The kubelet's client certificate (PEM).
    pub client_certificate: String,
    /// Its private key (PEM).
    pub client_key: String,
}

/// Issues node credentials.
pub struct JoinIssuer {
    pki: Arc<Pki>,
}

impl JoinIssuer {
    /// An issuer signing with the cluster CA of `pki`.
    pub fn new(pki: Arc<Pki>) -> Self {
        Self { pki }
    }

    fn issue(&self, registry: &Registry, req: &JoinRequest) -> Result<JoinResponse, ApiError> {
        let name = req.node_name.as_str();
        let problems = is_dns1123_subdomain(name);
        if !problems.is_empty() {
            let errors: Vec<FieldError> = problems
                .iter()
                .map(|p| FieldError::invalid("metadata.name", &name.into(), p))
                .collect();
            return Err(ApiError::invalid(&node::RESOURCE, name, &errors));
        }
        if registry.kubelet_alive(name) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!(
                    "node {name:?} is already in the cluster and its kubelet is running: give \
                     this board another name (bramble agent --node-name, or hostnamectl)"
                ),
            ));
        }
        let user = format!("{NODE_USER_PREFIX}{name}");
        let (client_certificate, client_key) = self
            .pki
            .issue_client(&user, &[NODES_GROUP], NODE_CERT_DAYS)
            .map_err(ApiError::internal)?;
        tracing::info!(node = %name, "issued node credentials to a joining board");
        Ok(JoinResponse {
            ca_certificate: self.pki.ca_pem().to_string(),
            client_certificate,
            client_key,
        })
    }
}

/// Serves one join request.
pub async fn serve(
    issuer: Option<&JoinIssuer>,
    registry: &Registry,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let Some(issuer) = issuer else {
        return body::error(&ApiError::path_not_found());
    };
    let bytes = match body::read(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return body::error(&e),
    };
    let request: JoinRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return body::error(&ApiError::bad_request(format!(
                "a join request is {{\"nodeName\": ..., \"addresses\": [...]}}: {e}"
            )))
        }
    };
    match issuer.issue(registry, &request) {
        Ok(answer) => match serde_json::to_value(&answer) {
            Ok(v) => body::json(StatusCode::CREATED, &v),
            Err(e) => body::error(&ApiError::internal(e)),
        },
        Err(e) => body::error(&e),
    }
}
