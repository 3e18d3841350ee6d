//! The `CertificateSigningRequest` kind (`certificates.k8s.io/v1`): upstream's
//! `pkg/apis/certificates/validation` and `pkg/registry/certificates/certificates/strategy.go`.
//!
//! A create keeps only the spec (the API server then fills `spec.username`, `groups`, `uid`
//! and `extra` from the requester, `api/admission/csr_requester.rs`); the main resource
//! never changes spec or status afterwards; `status` changes the status but keeps the
//! Approved and Denied conditions; `approval` changes only those conditions. An issued
//! certificate is never replaced, and a decision is never taken back.

use serde_json::{json, Value};

use super::validation::names::{is_dns1123_label, is_dns1123_subdomain, NameRule};
use super::validation::{validate_object_meta, validate_object_meta_update};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};
use crate::pki::csr::parse_request;

/// `certificatesigningrequests` in `certificates.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "certificates.k8s.io",
    version: "v1",
    kind: "CertificateSigningRequest",
    plural: "certificatesigningrequests",
    singular: "certificatesigningrequest",
    short_names: &["csr"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status", "approval"],
    categories: &[],
    strategy: &CsrStrategy,
    printer: &printers::certificatesigningrequest::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// The signer of kubelets' client certificates.
pub const KUBE_APISERVER_CLIENT_KUBELET_SIGNER: &str =
    "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelets' serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The condition a request gets when approved.
pub const APPROVED: &str = "Approved";
/// The condition a request gets when denied.
pub const DENIED: &str = "Denied";
/// The condition a request gets when its signer cannot sign it.
pub const FAILED: &str = "Failed";
/// Upstream's lower bound on `spec.expirationSeconds` (ten minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// Upstream's `allValidUsages`.
const VALID_USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

/// Write behaviour of `CertificateSigningRequest`.
pub struct CsrStrategy;

/// The bytes of a base64 `[]byte` field (`spec.request`, `status.certificate`).
pub fn bytes_at(obj: &Value, pointer: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = obj.pointer(pointer)?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Whether the request carries a condition of type `kind` (any status).
pub fn has_condition(obj: &Value, kind: &str) -> bool {
    conditions(obj).any(|c| c["type"] == kind)
}

fn conditions(obj: &Value) -> impl Iterator<Item = &Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Upstream's `ValidateSignerName`.
fn validate_signer_name(path: &str, signer: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if signer.is_empty() {
        errs.push(FieldError::required(path, ""));
        return errs;
    }
    let segments: Vec<&str> = signer.split('/').collect();
    let [domain, rest] = segments[..] else {
        errs.push(FieldError::invalid(
            path,
            &json!(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return errs;
    };
    if domain.len() > 253 {
        errs.push(FieldError::too_long(path, 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for label in &labels {
        let problems = is_dns1123_label(label);
        if !problems.is_empty() {
            for p in problems {
                errs.push(FieldError::invalid(
                    path,
                    &json!(domain),
                    &format!("validating label {label:?}: {p}"),
                ));
            }
            break;
        }
    }
    if labels.len() < 2 {
        errs.push(FieldError::invalid(
            path,
            &json!(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if rest.len() > 253 + 63 + 1 {
        errs.push(FieldError::too_long(path, 253 + 63 + 1));
    }
    for p in is_dns1123_subdomain(rest) {
        errs.push(FieldError::invalid(path, &json!(rest), &p));
    }
    errs
}

/// Upstream's `validateCertificateSigningRequest` on the spec and the conditions.
fn validate_csr(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let request = bytes_at(obj, "/spec/request").unwrap_or_default();
    if let Err(e) = parse_request(&request) {
        let shown = obj.pointer("/spec/request").cloned().unwrap_or(json!(""));
        errs.push(FieldError::invalid("spec.request", &shown, &e.to_string()));
    }
    let usages: Vec<&str> = obj
        .pointer("/spec/usages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|u| u.as_str().unwrap_or_default())
        .collect();
    if usages.is_empty() {
        errs.push(FieldError::required("spec.usages", ""));
    }
    for (i, usage) in usages.iter().enumerate() {
        if !VALID_USAGES.contains(usage) {
            errs.push(FieldError::not_supported(
                format!("spec.usages[{i}]"),
                &json!(usage),
                VALID_USAGES,
            ));
        }
        if usages[..i].contains(usage) {
            errs.push(FieldError::duplicate(
                format!("spec.usages[{i}]"),
                &json!(usage),
            ));
        }
    }
    let signer = obj
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if signer == "kubernetes.io/legacy-unknown" {
        errs.push(FieldError::invalid(
            "spec.signerName",
            &json!(signer),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        errs.extend(validate_signer_name("spec.signerName", signer));
    }
    if let Some(secs) = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
    {
        if secs < MIN_EXPIRATION_SECONDS {
            errs.push(FieldError::invalid(
                "spec.expirationSeconds",
                &json!(secs),
                "may not specify a duration less than 600 seconds (10 minutes)",
            ));
        }
    }
    errs.extend(validate_conditions(obj));
    errs
}

fn validate_conditions(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, c) in conditions(obj).enumerate() {
        let kind = c["type"].as_str().unwrap_or("");
        let path = format!("status.conditions[{i}]");
        if kind.is_empty() {
            errs.push(FieldError::required(format!("{path}.type"), ""));
        }
        let status = c["status"].as_str().unwrap_or("");
        if status.is_empty() {
            errs.push(FieldError::required(format!("{path}.status"), ""));
        } else if !matches!(status, "True" | "False" | "Unknown") {
            errs.push(FieldError::not_supported(
                format!("{path}.status"),
                &json!(status),
                &["False", "True", "Unknown"],
            ));
        }
        if matches!(kind, APPROVED | DENIED | FAILED) {
            if seen.contains(&kind) {
                errs.push(FieldError::duplicate(format!("{path}.type"), &json!(kind)));
            }
            if matches!(kind, APPROVED | DENIED) && status != "True" {
                errs.push(FieldError::not_supported(
                    format!("{path}.status"),
                    &json!(status),
                    &["True"],
                ));
            }
        }
        seen.push(kind);
    }
    if seen.contains(&APPROVED) && seen.contains(&DENIED) {
        errs.push(FieldError::invalid(
            "status.conditions",
            &json!(seen),
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
    if obj
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
        && !seen.contains(&APPROVED)
    {
        errs.push(FieldError::invalid(
            "status.certificate",
            &json!("<certificate data>"),
            "certificate issued on a request that is not approved",
        ));
    }
    errs
}

/// Keeps `kinds` conditions of `old` in `new`, dropping the ones `new` carries.
fn keep_conditions(new: &mut Value, old: &Value, kinds: &[&str], keep_old: bool) {
    let wanted = |c: &&Value| {
        let is = kinds.iter().any(|k| c["type"] == *k);
        is == keep_old
    };
    let from_old: Vec<Value> = conditions(old).filter(|c| wanted(c)).cloned().collect();
    let from_new: Vec<Value> = conditions(new).filter(|c| !wanted(c)).cloned().collect();
    let all: Vec<Value> = from_new.into_iter().chain(from_old).collect();
    if let Some(status) = ensure_status(new) {
        status.insert("conditions".into(), json!(all));
    }
}

fn ensure_status(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let status = map.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    status.as_object_mut()
}

/// Fills `lastUpdateTime` and `lastTransitionTime` of new conditions, as upstream's
/// `populateConditionTimestamps`.
fn stamp_conditions(new: &mut Value) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(list) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in list {
            if let Some(m) = c.as_object_mut() {
                for field in ["lastUpdateTime", "lastTransitionTime"] {
                    if m.get(field).map_or(true, Value::is_null) {
                        m.insert(field.into(), json!(now));
                    }
                }
            }
        }
    }
}

impl Strategy for CsrStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::certificates::v1::CertificateSigningRequest>(obj)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if let Some(m) = new.as_object_mut() {
            for field in ["spec", "status"] {
                match old.get(field) {
                    Some(v) => m.insert(field.into(), v.clone()),
                    None => m.remove(field),
                };
            }
        }
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let status = new.get("status").cloned().unwrap_or(json!({}));
        let meta = new.get("metadata").cloned();
        *new = old.clone();
        if let Some(m) = new.as_object_mut() {
            m.insert("status".into(), status);
            if let Some(meta) = meta {
                m.insert("metadata".into(), meta);
            }
        }
        keep_conditions(new, old, &[APPROVED, DENIED], true);
        stamp_conditions(new);
    }

    fn prepare_for_approval_update(&self, new: &mut Value, old: &Value) {
        let proposed = new.clone();
        let meta = new.get("metadata").cloned();
        *new = old.clone();
        if let (Some(m), Some(meta)) = (new.as_object_mut(), meta) {
            m.insert("metadata".into(), meta);
        }
        // Only the Approved and Denied conditions come from the request.
        let decided: Vec<Value> = conditions(&proposed)
            .filter(|c| c["type"] == APPROVED || c["type"] == DENIED)
            .cloned()
            .collect();
        let kept: Vec<Value> = conditions(old)
            .filter(|c| c["type"] != APPROVED && c["type"] != DENIED)
            .cloned()
            .collect();
        if let Some(status) = ensure_status(new) {
            status.insert(
                "conditions".into(),
                json!(kept.into_iter().chain(decided).collect::<Vec<_>>()),
            );
        }
        stamp_conditions(new);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::PathSegment);
        errs.extend(validate_csr(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        // An object stored before a rule tightened stays updatable: only new problems count.
        let old_problems: Vec<String> = validate_csr(old).iter().map(|e| e.to_string()).collect();
        errs.extend(
            validate_csr(new)
                .into_iter()
                .filter(|e| !old_problems.contains(&e.to_string())),
        );
        if new.get("spec") != old.get("spec") {
            errs.push(FieldError::invalid(
                "spec",
                &json!("<spec>"),
                "field is immutable",
            ));
        }
        let old_cert = old.pointer("/status/certificate").and_then(Value::as_str);
        let new_cert = new.pointer("/status/certificate").and_then(Value::as_str);
        if old_cert.is_some_and(|c| !c.is_empty()) && old_cert != new_cert {
            errs.push(FieldError::invalid(
                "status.certificate",
                &json!("<certificate data>"),
                "updates may not modify existing certificate content",
            ));
        }
        for kind in [APPROVED, DENIED] {
            if has_condition(old, kind) && !has_condition(new, kind) {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not remove a condition of type {kind:?}"),
                ));
            }
        }
        errs
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.signerName" => Some(
                obj.pointer("/spec/signerName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
