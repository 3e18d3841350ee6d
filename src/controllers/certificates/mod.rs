//! kube-controller-manager's certificate controllers for the two signers kubelets use,
//! `kubernetes.io/kube-apiserver-client-kubelet` and `kubernetes.io/kubelet-serving`:
//! `approver.rs` (upstream's csrapproving, plus the kubelet-serving checks the join
//! endpoint applied), `signer.rs` (csrsigning with the cluster CA) and `cleaner.rs`
//! (csrcleaner). Each reconciles one CertificateSigningRequest at a time from the shared
//! informer; what they decide is pure and tested in `kubelet_csr.rs`.

pub mod approver;
pub mod cleaner;
pub mod kubelet_csr;
pub mod signer;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::Action;
use crate::resources::certificatesigningrequest::{self, APPROVED, DENIED, FAILED};

/// Whether `csr` carries a condition of type `kind`.
pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind))
}

/// Whether someone already decided on `csr`.
pub fn decided(csr: &CertificateSigningRequest) -> bool {
    has_condition(csr, APPROVED) || has_condition(csr, DENIED)
}

/// Whether the signer gave up on `csr` or already issued its certificate.
pub fn finished(csr: &CertificateSigningRequest) -> bool {
    has_condition(csr, FAILED)
        || csr
            .status
            .as_ref()
            .and_then(|s| s.certificate.as_ref())
            .is_some_and(|c| !c.0.is_empty())
}

/// A condition as the merge patch of `status.conditions` carries it.
fn condition(kind: &str, reason: &str, message: &str) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": now})
}

/// The patch adding `added` to `csr`'s conditions, guarded by its resourceVersion.
fn add_condition(csr: &CertificateSigningRequest, added: serde_json::Value) -> serde_json::Value {
    let mut all: Vec<serde_json::Value> = csr
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    all.push(added);
    serde_json::json!({
        "metadata": {"resourceVersion": csr.metadata.resource_version},
        "status": {"conditions": all},
    })
}

/// Merge-patches `subresource` of the request `name`; a request changed or gone meanwhile
/// is done with, as the informer brings its new state.
async fn patch_csr<C: Client>(
    client: &C,
    name: &str,
    subresource: Subresource,
    patch: &serde_json::Value,
) -> Result<Action, ApiError> {
    match client
        .patch(
            &certificatesigningrequest::RESOURCE,
            "",
            name,
            PatchType::Merge,
            patch,
            subresource,
        )
        .await
    {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
        Err(e) => Err(e),
    }
}
