//! What the certificate controllers decide about a kubelet's request, as pure functions.
//!
//! Upstream's `IsKubeletClientCSR` and `IsKubeletServingCSR`
//! (`pkg/apis/certificates/v1/helpers.go`) say what a request to each kubelet signer must
//! look like: subject `O=system:nodes`, `CN=system:node:<name>`, the usages of a client or a
//! serving certificate, and only the alternative names that make sense. The approver of
//! `kube-apiserver-client-kubelet` (`csrapproving`'s `sarApprover`) approves a node renewing
//! its own certificate (`selfnodeclient`: requester = CN) and a bootstrap request from
//! `system:bootstrappers` (`nodeclient`). Upstream has no approver for `kubelet-serving`;
//! Bramble's approves what its join endpoint used to sign: names that are the node's own
//! (its name, addresses its Node reports), never one of the API server's, and denies the
//! rest, so a board's certificate can never impersonate the API server.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

use crate::pki::csr::{parse_request, RequestedSubject};
use crate::pki::identity::{NODES_GROUP, NODE_USER_PREFIX};
use crate::pki::join_token::BOOTSTRAPPERS_GROUP;
use crate::resources::certificatesigningrequest::{
    KUBELET_SERVING_SIGNER, KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
};

/// What the approver does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approve, with the condition's reason and message.
    Approve(String),
    /// Deny, saying why.
    Deny(String),
    /// Not this approver's to decide: leave it pending for someone else.
    Ignore,
}

/// The API server's own names and addresses, never signed for a node.
#[derive(Debug, Clone, Default)]
pub struct ApiServerNames {
    /// DNS names (lower case).
    pub dns: BTreeSet<String>,
    /// Addresses.
    pub ips: BTreeSet<IpAddr>,
}

fn usages(csr: &CertificateSigningRequest) -> Vec<&str> {
    csr.spec
        .usages
        .iter()
        .flatten()
        .map(String::as_str)
        .collect()
}

/// Upstream's usage rule: every usage in `allowed`, and `required` among them.
fn usages_problem(
    csr: &CertificateSigningRequest,
    allowed: &[&str],
    required: &str,
) -> Option<String> {
    let have = usages(csr);
    if !have.contains(&required) || have.iter().any(|u| !allowed.contains(u)) {
        return Some(format!(
            "usages did not match {allowed:?} with {required:?} required"
        ));
    }
    None
}

fn node_subject_problem(subject: &RequestedSubject) -> Option<String> {
    if subject.organizations != [NODES_GROUP] {
        return Some(format!("subject organization is not {NODES_GROUP}"));
    }
    if !subject.common_name.starts_with(NODE_USER_PREFIX) {
        return Some(format!(
            "subject common name does not begin with {NODE_USER_PREFIX}"
        ));
    }
    None
}

/// Why `csr` is not a well-formed kubelet client request (`IsKubeletClientCSR`), or its
/// subject when it is.
pub fn client_request(csr: &CertificateSigningRequest) -> Result<RequestedSubject, String> {
    let subject = parse_request(&csr.spec.request.0).map_err(|e| e.to_string())?;
    if let Some(p) = node_subject_problem(&subject) {
        return Err(p);
    }
    if !subject.dns_names.is_empty()
        || !subject.email_addresses.is_empty()
        || !subject.ip_addresses.is_empty()
        || !subject.uris.is_empty()
    {
        return Err(
            "dnsNames, emailAddresses, ipAddresses and uris are not allowed in a kubelet client certificate"
                .into(),
        );
    }
    if let Some(p) = usages_problem(
        csr,
        &["digital signature", "key encipherment", "client auth"],
        "client auth",
    ) {
        return Err(p);
    }
    Ok(subject)
}

/// Why `csr` is not a well-formed kubelet serving request (`IsKubeletServingCSR`), or its
/// subject when it is.
pub fn serving_request(csr: &CertificateSigningRequest) -> Result<RequestedSubject, String> {
    let subject = parse_request(&csr.spec.request.0).map_err(|e| e.to_string())?;
    if let Some(p) = node_subject_problem(&subject) {
        return Err(p);
    }
    if !subject.email_addresses.is_empty() || !subject.uris.is_empty() {
        return Err(
            "emailAddresses and uris are not allowed in a kubelet serving certificate".into(),
        );
    }
    if subject.dns_names.is_empty() && subject.ip_addresses.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if let Some(p) = usages_problem(
        csr,
        &["digital signature", "key encipherment", "server auth"],
        "server auth",
    ) {
        return Err(p);
    }
    Ok(subject)
}

/// Why the signer `signer` must not sign `csr`, or `None` when it may (upstream's signer
/// checks the request again: an approval does not make a malformed request signable).
pub fn signer_problem(signer: &str, csr: &CertificateSigningRequest) -> Option<String> {
    match signer {
        KUBE_APISERVER_CLIENT_KUBELET_SIGNER => client_request(csr).err(),
        KUBELET_SERVING_SIGNER => serving_request(csr).err(),
        _ => Some(format!("{signer} is not a signer of this cluster")),
    }
}

fn requester(csr: &CertificateSigningRequest) -> (&str, &[String]) {
    (
        csr.spec.username.as_deref().unwrap_or(""),
        csr.spec.groups.as_deref().unwrap_or(&[]),
    )
}

/// The approver's verdict on a `kube-apiserver-client-kubelet` request.
pub fn client_verdict(csr: &CertificateSigningRequest) -> Verdict {
    let Ok(subject) = client_request(csr) else {
        // upstream's approver leaves a request it does not recognize alone
        return Verdict::Ignore;
    };
    let (user, groups) = requester(csr);
    if user == subject.common_name && groups.iter().any(|g| g == NODES_GROUP) {
        return Verdict::Approve(
            "Auto approving self kubelet client certificate after SubjectAccessReview.".into(),
        );
    }
    if groups.iter().any(|g| g == BOOTSTRAPPERS_GROUP) {
        return Verdict::Approve(
            "Auto approving kubelet client certificate after SubjectAccessReview.".into(),
        );
    }
    Verdict::Ignore
}

/// The approver's verdict on a `kubelet-serving` request; `reported` holds the addresses
/// the requesting node's Node reports (`None`: no such Node).
pub fn serving_verdict(
    csr: &CertificateSigningRequest,
    reported: Option<&BTreeSet<IpAddr>>,
    api: &ApiServerNames,
) -> Verdict {
    let subject = match serving_request(csr) {
        Ok(s) => s,
        Err(why) => return Verdict::Deny(why),
    };
    let (user, groups) = requester(csr);
    if user != subject.common_name || !groups.iter().any(|g| g == NODES_GROUP) {
        return Verdict::Deny(format!(
            "{user:?} may not ask for a serving certificate of {:?}: only a node, for itself",
            subject.common_name
        ));
    }
    let node = &subject.common_name[NODE_USER_PREFIX.len()..];
    for name in &subject.dns_names {
        let lower = name.to_ascii_lowercase();
        if lower != node.to_ascii_lowercase() {
            return Verdict::Deny(format!(
                "node {node:?} may not have a serving certificate for {name:?}: a node's only \
                 DNS name is its own name"
            ));
        }
        if api.dns.contains(&lower) || lower.starts_with("kubernetes.default.") {
            return Verdict::Deny(format!(
                "node {node:?} may not have a serving certificate: {name:?} is a name of the API server"
            ));
        }
    }
    for ip in &subject.ip_addresses {
        if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
            return Verdict::Deny(format!(
                "node {node:?} may not have a serving certificate for {ip}: a loopback, \
                 unspecified or multicast address names no node"
            ));
        }
        if api.ips.contains(ip) {
            return Verdict::Deny(format!(
                "node {node:?} may not have a serving certificate for {ip}: it is an address \
                 of the API server"
            ));
        }
        match reported {
            None => {
                return Verdict::Deny(format!(
                    "node {node:?} may not have a serving certificate for {ip}: the node is \
                     not registered"
                ))
            }
            Some(ips) if !ips.contains(ip) => {
                return Verdict::Deny(format!(
                    "node {node:?} may not have a serving certificate for {ip}: its Node does \
                     not report that address in status.addresses"
                ))
            }
            Some(_) => {}
        }
    }
    Verdict::Approve("Auto approving kubelet serving certificate for the node's own names.".into())
}

#[cfg(test)]
mod tests;
