//! Certificates for boards, over two endpoints of the API server:
//!
//! - `POST /bramble/v1/join`: a board holding the join token gets its node credentials. The
//!   caller authenticates with the token's bearer part (identity `system:bootstrap:<id>`,
//!   group `system:bootstrappers`, which may call nothing else) over a connection it has
//!   already checked against the token's CA pin. It sends `{"nodeName": ...}` and receives
//!   the cluster CA and a client certificate for `system:node:<name>` in `system:nodes`
//!   (what the Node authorizer expects of a kubelet), as k3s' server hands out kubelet
//!   credentials. A name whose kubelet is alive is refused: two Raspberry Pi OS boards both
//!   called `raspberrypi` must not share one Node.
//! - `POST /bramble/v1/kubelet-serving-certificate`: a node sends `{"addresses": [...]}`
//!   and receives a serving certificate for its kubelet's HTTPS port covering its name and
//!   those addresses (upstream's `kubernetes.io/kubelet-serving` signer, without the CSR
//!   round trip). As upstream's CSR approver checks a kubelet-serving request against the
//!   Node, every address must be one its Node reports in `status.addresses`, and neither
//!   the name nor an address may be one of the API server's (its certificate's names and
//!   addresses, the `kubernetes` Service's ClusterIP, `kubernetes.default...`,
//!   `localhost`, loopback): a board's certificate can never impersonate the API server.
//!   Before its Node is registered a node gets a certificate for its name only. Bramble's
//!   agent no longer calls this endpoint: its certificate manager asks through a
//!   `kubernetes.io/kubelet-serving` CertificateSigningRequest, which
//!   `controllers/certificates` approves under the same rules; the endpoint stays for
//!   clients of the previous protocol.
//!
//! A node client certificate from a join lives `--node-cert-lifetime`; the kubelet renews it
//! through `kubernetes.io/kube-apiserver-client-kubelet` requests from then on.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::Identity;
use super::body::{self, ResponseBody};
use super::registry::Registry;
use super::status::ApiError;
use crate::api::auth::{NODES_GROUP, NODE_USER_PREFIX};
use crate::pki::Pki;
use crate::pki::IN_CLUSTER_DNS_NAMES;
use crate::resources::field_error::FieldError;
use crate::resources::validation::names::is_dns1123_subdomain;
use crate::resources::{node, service};

/// The path joining boards post to.
pub const JOIN_PATH: &str = "/bramble/v1/join";
/// The path kubelets post to for their serving certificate.
pub const SERVING_PATH: &str = "/bramble/v1/kubelet-serving-certificate";
/// Validity of kubelet serving certificates (renewed at every kubelet start).
pub const SERVING_CERT_DAYS: u64 = 365;

/// What a joining board sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The board's node name.
    pub node_name: String,
}

/// What the server answers a join.
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

/// What a kubelet sends for its serving certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServingRequest {
    /// The addresses the API server may dial the kubelet at.
    pub addresses: Vec<IpAddr>,
}

/// A certificate and its key (PEM).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServingResponse {
    /// The serving certificate.
    pub certificate: String,
    /// Its private key.
    pub key: String,
}

/// Issues certificates to boards, signed by the cluster CA.
pub struct NodeCertificates {
    pki: Arc<Pki>,
    /// The life of a node client certificate (`--node-cert-lifetime`).
    node_cert_lifetime: std::time::Duration,
    /// The API server's own names and addresses, never signed for a node.
    api_dns: BTreeSet<String>,
    api_ips: BTreeSet<IpAddr>,
}

impl NodeCertificates {
    /// An issuer signing with the cluster CA of `pki`, node client certificates living
    /// `node_cert_lifetime` (the kubelet renews them through CSRs from then on).
    pub fn new(pki: Arc<Pki>, node_cert_lifetime: std::time::Duration) -> Self {
        let (mut api_dns, api_ips) = pki.server_names();
        api_dns.extend(IN_CLUSTER_DNS_NAMES.iter().map(|d| d.to_string()));
        Self {
            pki,
            node_cert_lifetime,
            api_dns,
            api_ips,
        }
    }

    /// Why `node` may not have a serving certificate for `addresses`, if it may not.
    fn refusal(&self, registry: &Registry, node: &str, addresses: &[IpAddr]) -> Option<String> {
        let lower = node.to_ascii_lowercase();
        if self.api_dns.contains(&lower) || lower.starts_with("kubernetes.default.") {
            return Some(format!(
                "node {node:?} may not have a serving certificate: {node:?} is a name of the API server"
            ));
        }
        let service_ips = kubernetes_service_ips(registry);
        let reported = registry
            .get(&node::RESOURCE, "", node)
            .ok()
            .map(|n| reported_ips(&n));
        for ip in addresses {
            if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
                return Some(format!(
                    "node {node:?} may not have a serving certificate for {ip}: a loopback, \
                     unspecified or multicast address names no node"
                ));
            }
            if self.api_ips.contains(ip) || service_ips.contains(ip) {
                return Some(format!(
                    "node {node:?} may not have a serving certificate for {ip}: it is an address \
                     of the API server"
                ));
            }
            match &reported {
                None => {
                    return Some(format!(
                        "node {node:?} may not have a serving certificate for {ip}: the node is \
                         not registered yet; ask for its name only, then again once its Node \
                         reports its addresses"
                    ))
                }
                Some(ips) if !ips.contains(ip) => {
                    return Some(format!(
                        "node {node:?} may not have a serving certificate for {ip}: its Node \
                         does not report that address in status.addresses"
                    ))
                }
                Some(_) => {}
            }
        }
        None
    }

    fn join(&self, registry: &Registry, req: &JoinRequest) -> Result<JoinResponse, ApiError> {
        let name = req.node_name.as_str();
        let problems = is_dns1123_subdomain(name);
        if !problems.is_empty() {
            let errors: Vec<FieldError> = problems
                .iter()
                .map(|p| FieldError::invalid("metadata.name", &name.into(), p))
                .collect();
            return Err(ApiError::invalid(&node::RESOURCE, name, &errors));
        }
        if kubelet_alive(registry, name) {
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
            .ca()
            .issue_client_for(&user, &[NODES_GROUP], self.node_cert_lifetime)
            .map_err(ApiError::internal)?;
        tracing::info!(node = %name, "issued node credentials to a joining board");
        Ok(JoinResponse {
            ca_certificate: self.pki.ca_pem().to_string(),
            client_certificate,
            client_key,
        })
    }

    fn serving(
        &self,
        registry: &Registry,
        who: &Identity,
        req: &ServingRequest,
    ) -> Result<ServingResponse, ApiError> {
        let node = who.node_name().ok_or_else(|| {
            ApiError::forbidden("only a node may ask for a kubelet serving certificate")
        })?;
        if let Some(why) = self.refusal(registry, node, &req.addresses) {
            tracing::warn!(%node, addresses = ?req.addresses, %why, "refused a kubelet serving certificate");
            return Err(ApiError::forbidden(why));
        }
        let (certificate, key) = self
            .pki
            .issue_kubelet_serving(node, &req.addresses, SERVING_CERT_DAYS)
            .map_err(ApiError::internal)?;
        tracing::info!(%node, addresses = ?req.addresses, "issued a kubelet serving certificate");
        Ok(ServingResponse { certificate, key })
    }
}

/// The addresses a Node reports (every `status.addresses` entry that is an IP, whatever
/// its type: Hostname, InternalIP, ExternalIP, InternalDNS, ExternalDNS).
fn reported_ips(node: &serde_json::Value) -> BTreeSet<IpAddr> {
    node.pointer("/status/addresses")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a["address"].as_str()?.parse().ok())
        .collect()
}

/// The ClusterIPs of the `default/kubernetes` Service, through which pods reach the API
/// server.
fn kubernetes_service_ips(registry: &Registry) -> BTreeSet<IpAddr> {
    let Ok(svc) = registry.get(&service::RESOURCE, "default", "kubernetes") else {
        return BTreeSet::new();
    };
    let spec = &svc["spec"];
    spec["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&spec["clusterIP"]))
        .filter_map(|ip| ip.as_str()?.parse().ok())
        .collect()
}

/// Whether `node`'s kubelet has shown a sign of life within its lease duration: a renewed
/// Lease, or (before its first lease) a Ready heartbeat on the Node.
fn kubelet_alive(registry: &Registry, node: &str) -> bool {
    if registry.kubelet_alive(node) {
        return true;
    }
    let Some(obj) = registry
        .get(&node::RESOURCE, "", node)
        .ok()
        .and_then(|v| serde_json::from_value::<k8s_openapi::api::core::v1::Node>(v).ok())
    else {
        return false;
    };
    node::last_heard(&obj, None)
        .is_some_and(|t| chrono::Utc::now() - t < chrono::Duration::seconds(HEARTBEAT_VALID_SECS))
}

/// How long a heartbeat counts, as a node lease's duration.
const HEARTBEAT_VALID_SECS: i64 = 40;

async fn read_json<T: DeserializeOwned>(
    req: Request<Incoming>,
    shape: &str,
) -> Result<T, ApiError> {
    let bytes = body::read(req.into_body()).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("a request to this path is {shape}: {e}")))
}

fn answer<T: Serialize>(result: Result<T, ApiError>) -> Response<ResponseBody> {
    match result.and_then(|v| serde_json::to_value(&v).map_err(ApiError::internal)) {
        Ok(v) => body::json(StatusCode::CREATED, &v),
        Err(e) => body::error(&e),
    }
}

/// Serves one request to [`JOIN_PATH`] or [`SERVING_PATH`].
pub async fn serve(
    issuer: Option<&NodeCertificates>,
    registry: &Registry,
    who: &Identity,
    path: &str,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let Some(issuer) = issuer else {
        return body::error(&ApiError::path_not_found());
    };
    if path == JOIN_PATH {
        match read_json::<JoinRequest>(req, "{\"nodeName\": ...}").await {
            Ok(r) => answer(issuer.join(registry, &r)),
            Err(e) => body::error(&e),
        }
    } else {
        match read_json::<ServingRequest>(req, "{\"addresses\": [...]}").await {
            Ok(r) => answer(issuer.serving(registry, who, &r)),
            Err(e) => body::error(&e),
        }
    }
}
