//! Removes old certificate signing requests, as kube-controller-manager's `csrcleaner`:
//! approved, denied and failed requests an hour after that condition was last updated,
//! pending ones a day after they were created, and any request whose issued certificate
//! has expired. Without it every renewal of every node would stay in the store forever.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

use crate::client::informer::{Informer, Informers};
use crate::client::options::DeleteOptions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::runtime::Controller;
use crate::controllers::work_queue::WorkQueue;
use crate::controllers::{Action, Wired};
use crate::resources::certificatesigningrequest::{self, APPROVED, DENIED, FAILED};

/// How long an approved, denied or failed request is kept (upstream's 1 hour).
pub const DECIDED_TTL: Duration = Duration::from_secs(60 * 60);
/// How long a pending request is kept (upstream's 24 hours).
pub const PENDING_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// When `csr` is due for removal.
pub fn removal_time(csr: &CertificateSigningRequest) -> Option<DateTime<Utc>> {
    let ttl = chrono::Duration::from_std(DECIDED_TTL).ok()?;
    let mut due: Option<DateTime<Utc>> = None;
    let earliest = |due: &mut Option<DateTime<Utc>>, t: DateTime<Utc>| {
        *due = Some(due.map_or(t, |d| d.min(t)));
    };
    let conditions = csr.status.as_ref().and_then(|s| s.conditions.as_ref());
    for c in conditions.into_iter().flatten() {
        if matches!(c.type_.as_str(), APPROVED | DENIED | FAILED) {
            let at = c
                .last_update_time
                .as_ref()
                .or(c.last_transition_time.as_ref())
                .map(|t| t.0)
                .or_else(|| csr.metadata.creation_timestamp.as_ref().map(|t| t.0));
            if let Some(at) = at {
                earliest(&mut due, at + ttl);
            }
        }
    }
    let issued = csr.status.as_ref().and_then(|s| s.certificate.as_ref());
    if let Some(cert) = issued.filter(|c| !c.0.is_empty()) {
        if let Some(expiry) = certificate_expiry(&cert.0) {
            earliest(&mut due, expiry);
        }
    }
    if due.is_none() {
        let pending = chrono::Duration::from_std(PENDING_TTL).ok()?;
        let created = csr.metadata.creation_timestamp.as_ref()?.0;
        earliest(&mut due, created + pending);
    }
    due
}

fn certificate_expiry(pem: &[u8]) -> Option<DateTime<Utc>> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

/// Deletes requests that are done with.
pub struct CsrCleaner<C: Client> {
    client: C,
    csrs: Informer<CertificateSigningRequest>,
}

impl<C: Client> CsrCleaner<C> {
    /// Wires the cleaner to the shared informers.
    pub fn new(informers: &Informers<C>) -> Wired<Self, CertificateSigningRequest> {
        let csrs = informers.get::<CertificateSigningRequest>()?;
        Ok((
            CsrCleaner {
                client: informers.client().clone(),
                csrs: csrs.clone(),
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

impl<C: Client> Controller for CsrCleaner<C> {
    type Kind = CertificateSigningRequest;

    fn name(&self) -> &'static str {
        "csrcleaner"
    }

    async fn reconcile(&self, csr: Arc<CertificateSigningRequest>) -> Result<Action, ApiError> {
        let Some(due) = removal_time(&csr) else {
            return Ok(Action::Done);
        };
        let now = Utc::now();
        if due > now {
            return Ok(Action::RequeueAfter(
                (due - now).to_std().unwrap_or_default(),
            ));
        }
        let name = csr.metadata.name.as_deref().unwrap_or_default();
        match self
            .client
            .delete(
                &certificatesigningrequest::RESOURCE,
                "",
                name,
                &DeleteOptions::default(),
            )
            .await
        {
            Ok(()) => {
                tracing::info!(csr = %name, "removed an old certificate signing request");
                Ok(Action::Done)
            }
            Err(e) if e.code == 404 => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csr(v: serde_json::Value) -> CertificateSigningRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn decided_requests_go_an_hour_after_the_decision_pending_ones_after_a_day() {
        let approved = csr(
            json!({"metadata": {"name": "a", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"request": "", "signerName": "x/y"},
            "status": {"conditions": [{"type": "Approved", "status": "True",
                "lastUpdateTime": "2024-05-01T10:30:00Z"}]}}),
        );
        assert_eq!(
            removal_time(&approved).unwrap().to_rfc3339(),
            "2024-05-01T11:30:00+00:00"
        );
        let pending = csr(
            json!({"metadata": {"name": "p", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"request": "", "signerName": "x/y"}}),
        );
        assert_eq!(
            removal_time(&pending).unwrap().to_rfc3339(),
            "2024-05-02T10:00:00+00:00"
        );
    }
}
