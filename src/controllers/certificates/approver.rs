//! Approves (or, for serving certificates, denies) kubelets' certificate signing requests,
//! as kube-controller-manager's `csrapproving` controller: decisions go through the
//! `approval` subresource, one condition each, with the verdicts of `kubelet_csr.rs`.
//! Requests to other signers, and requests already decided, are left alone.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Node;

use super::kubelet_csr::{client_verdict, serving_verdict, ApiServerNames, Verdict};
use super::{add_condition, condition, decided, patch_csr};
use crate::client::informer::{Informer, Informers};
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::runtime::Controller;
use crate::controllers::work_queue::WorkQueue;
use crate::controllers::{Action, Wired};
use crate::pki::identity::NODE_USER_PREFIX;
use crate::resources::certificatesigningrequest::{
    APPROVED, DENIED, KUBELET_SERVING_SIGNER, KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
};

/// Decides kubelets' requests.
pub struct CsrApprover<C: Client> {
    client: C,
    csrs: Informer<CertificateSigningRequest>,
    nodes: Informer<Node>,
    api: ApiServerNames,
}

impl<C: Client> CsrApprover<C> {
    /// Wires the approver to the shared informers; `api` are the API server's own names.
    pub fn new(
        informers: &Informers<C>,
        api: ApiServerNames,
    ) -> Wired<Self, CertificateSigningRequest> {
        let csrs = informers.get::<CertificateSigningRequest>()?;
        let nodes = informers.get::<Node>()?;
        Ok((
            CsrApprover {
                client: informers.client().clone(),
                csrs: csrs.clone(),
                nodes,
                api,
            },
            csrs,
            WorkQueue::default(),
        ))
    }

    /// Resolves once requests and nodes have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (csrs, nodes) = (self.csrs.clone(), self.nodes.clone());
        async move {
            csrs.wait_synced().await;
            nodes.wait_synced().await;
        }
    }

    /// The addresses node `user`'s Node reports, if it exists.
    fn reported(&self, user: &str) -> Option<BTreeSet<IpAddr>> {
        let node = self.nodes.get("", user.strip_prefix(NODE_USER_PREFIX)?)?;
        Some(
            node.status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|a| a.address.parse().ok())
                .collect(),
        )
    }
}

impl<C: Client> Controller for CsrApprover<C> {
    type Kind = CertificateSigningRequest;

    fn name(&self) -> &'static str {
        "csrapproving"
    }

    async fn reconcile(&self, csr: Arc<CertificateSigningRequest>) -> Result<Action, ApiError> {
        if decided(&csr) {
            return Ok(Action::Done);
        }
        let verdict = match csr.spec.signer_name.as_str() {
            KUBE_APISERVER_CLIENT_KUBELET_SIGNER => client_verdict(&csr),
            KUBELET_SERVING_SIGNER => {
                let user = csr.spec.username.as_deref().unwrap_or("");
                serving_verdict(&csr, self.reported(user).as_ref(), &self.api)
            }
            _ => Verdict::Ignore,
        };
        let name = csr.metadata.name.as_deref().unwrap_or_default();
        let added = match &verdict {
            Verdict::Ignore => return Ok(Action::Done),
            Verdict::Approve(message) => condition(APPROVED, "AutoApproved", message),
            Verdict::Deny(message) => {
                tracing::warn!(csr = %name, %message, "denied a kubelet serving certificate request");
                condition(DENIED, "NotTheNodesOwnNames", message)
            }
        };
        let patch = add_condition(&csr, added);
        patch_csr(&self.client, name, Subresource::Approval, &patch).await
    }
}
