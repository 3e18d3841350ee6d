//! Signs approved kubelet certificate requests with the cluster CA, as kube-controller-
//! manager's `csrsigning` controller does for `kube-apiserver-client-kubelet` and
//! `kubelet-serving`: the request is checked again, the certificate lives
//! `spec.expirationSeconds` cut to the server-wide maximum (`--node-cert-lifetime`), and is
//! written to `status.certificate`. A request the signer cannot sign gets a `Failed`
//! condition instead.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde_json::json;

use super::kubelet_csr::signer_problem;
use super::{add_condition, condition, finished, has_condition, patch_csr};
use crate::client::informer::{Informer, Informers};
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::runtime::Controller;
use crate::controllers::work_queue::WorkQueue;
use crate::controllers::{Action, Wired};
use crate::pki::ClusterCa;
use crate::resources::certificatesigningrequest::{
    APPROVED, DENIED, FAILED, KUBELET_SERVING_SIGNER, KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
};

/// Upstream's default `--cluster-signing-duration`: one year.
pub const DEFAULT_NODE_CERT_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The lifetime of a certificate for a request asking `requested` seconds, under the
/// server-wide `max`: upstream's `signer.duration`, whose 10-minute floor applies only when
/// the maximum itself allows it.
pub fn lifetime(requested: Option<i32>, max: Duration) -> Duration {
    let floor = Duration::from_secs(10 * 60).min(max);
    match requested {
        None => max,
        Some(secs) => Duration::from_secs(u64::try_from(secs).unwrap_or(0)).clamp(floor, max),
    }
}

/// Signs approved kubelet requests.
pub struct CsrSigner<C: Client> {
    client: C,
    csrs: Informer<CertificateSigningRequest>,
    ca: Arc<ClusterCa>,
    max_lifetime: Duration,
}

impl<C: Client> CsrSigner<C> {
    /// Wires the signer to the shared informers.
    pub fn new(
        informers: &Informers<C>,
        ca: Arc<ClusterCa>,
        max_lifetime: Duration,
    ) -> Wired<Self, CertificateSigningRequest> {
        let csrs = informers.get::<CertificateSigningRequest>()?;
        Ok((
            CsrSigner {
                client: informers.client().clone(),
                csrs: csrs.clone(),
                ca,
                max_lifetime,
            },
            csrs,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the requests have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let csrs = self.csrs.clone();
        async move { csrs.wait_synced().await }
    }
}

impl<C: Client> Controller for CsrSigner<C> {
    type Kind = CertificateSigningRequest;

    fn name(&self) -> &'static str {
        "csrsigning"
    }

    async fn reconcile(&self, csr: Arc<CertificateSigningRequest>) -> Result<Action, ApiError> {
        let signer = csr.spec.signer_name.as_str();
        if !matches!(
            signer,
            KUBE_APISERVER_CLIENT_KUBELET_SIGNER | KUBELET_SERVING_SIGNER
        ) || !has_condition(&csr, APPROVED)
            || has_condition(&csr, DENIED)
            || finished(&csr)
        {
            return Ok(Action::Done);
        }
        let name = csr.metadata.name.as_deref().unwrap_or_default();
        let patch = match signer_problem(signer, &csr) {
            Some(why) => {
                tracing::warn!(csr = %name, %why, "cannot sign a certificate request");
                add_condition(&csr, condition(FAILED, "SignerValidationFailure", &why))
            }
            None => {
                let usages = csr.spec.usages.clone().unwrap_or_default();
                let life = lifetime(csr.spec.expiration_seconds, self.max_lifetime);
                let pem = self
                    .ca
                    .sign_request(&csr.spec.request.0, &usages, life)
                    .map_err(ApiError::internal)?;
                tracing::info!(csr = %name, %signer, lifetime_secs = life.as_secs(), "signed a certificate request");
                json!({
                    "metadata": {"resourceVersion": csr.metadata.resource_version},
                    "status": {"certificate": base64::engine::general_purpose::STANDARD.encode(pem)},
                })
            }
        };
        patch_csr(&self.client, name, Subresource::Status, &patch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifetime_is_the_request_cut_to_the_server_maximum() {
        let year = DEFAULT_NODE_CERT_LIFETIME;
        assert_eq!(lifetime(None, year), year);
        assert_eq!(lifetime(Some(3600), year), Duration::from_secs(3600));
        // upstream's ten-minute floor, unless the server's maximum is lower still
        assert_eq!(lifetime(Some(1), year), Duration::from_secs(600));
        let two_minutes = Duration::from_secs(120);
        assert_eq!(lifetime(Some(3600), two_minutes), two_minutes);
        assert_eq!(lifetime(None, two_minutes), two_minutes);
    }
}
