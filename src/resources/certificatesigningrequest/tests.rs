use base64::Engine;
use serde_json::json;

use super::*;

fn request_b64() -> String {
    let (pem, _) =
        crate::pki::csr::generate_request("system:node:pi-2", Some("system:nodes"), &[], &[])
            .unwrap();
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn csr() -> Value {
    json!({"metadata": {"name": "csr-abc"}, "spec": {
        "request": request_b64(),
        "signerName": KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
        "usages": ["digital signature", "client auth"],
        "expirationSeconds": 600}})
}

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

#[test]
fn a_well_formed_request_validates() {
    assert_eq!(
        messages(&CsrStrategy.validate(&csr())),
        Vec::<String>::new()
    );
}

#[test]
fn signer_usages_duration_and_request_are_checked_as_upstream() {
    let mut c = csr();
    c["spec"]["signerName"] = json!("");
    c["spec"]["usages"] = json!(["client auth", "bogus", "client auth"]);
    c["spec"]["expirationSeconds"] = json!(599);
    c["spec"]["request"] = json!(base64::engine::general_purpose::STANDARD.encode("not pem"));
    let got = messages(&CsrStrategy.validate(&c));
    assert!(
        got.contains(&"spec.signerName: Required value".to_string()),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m.starts_with("spec.usages[1]: Unsupported value: \"bogus\"")),
        "{got:?}"
    );
    assert!(
        got.contains(&"spec.usages[2]: Duplicate value: \"client auth\"".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(
            &"spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)".to_string()
        ),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m.starts_with("spec.request: Invalid value")
                && m.ends_with("PEM block type must be CERTIFICATE REQUEST")),
        "{got:?}"
    );
    let mut c = csr();
    c["spec"]["signerName"] = json!("example");
    let got = messages(&CsrStrategy.validate(&c));
    assert_eq!(
        got,
        vec!["spec.signerName: Invalid value: \"example\": must be a fully qualified domain and path of the form 'example.com/signer-name'"]
    );
    let mut c = csr();
    c["spec"]["usages"] = json!([]);
    assert_eq!(
        messages(&CsrStrategy.validate(&c)),
        vec!["spec.usages: Required value"]
    );
}

#[test]
fn approval_changes_only_the_decision_and_a_decision_stays() {
    let old = csr();
    let mut new = old.clone();
    new["spec"]["signerName"] = json!("example.com/other");
    new["status"] = json!({"certificate": "Zm9v", "conditions": [
        {"type": "Approved", "status": "True", "reason": "KubectlApprove"}]});
    CsrStrategy.prepare_for_approval_update(&mut new, &old);
    assert_eq!(new["spec"], old["spec"]);
    assert_eq!(new["status"].get("certificate"), None);
    assert_eq!(new["status"]["conditions"][0]["type"], "Approved");
    assert!(new["status"]["conditions"][0]["lastUpdateTime"].is_string());
    assert!(CsrStrategy.validate_update(&new, &old).is_empty());

    // the status subresource cannot take the decision back, nor add one
    let approved = new;
    let mut status = approved.clone();
    status["status"]["conditions"] = json!([]);
    CsrStrategy.prepare_for_status_update(&mut status, &approved);
    assert!(has_condition(&status, APPROVED));
    let mut taken_back = approved.clone();
    taken_back["status"]["conditions"] = json!([]);
    let got = messages(&CsrStrategy.validate_update(&taken_back, &approved));
    assert_eq!(
        got,
        vec![
            "status.conditions: Forbidden: updates may not remove a condition of type \"Approved\""
        ]
    );
}

#[test]
fn a_certificate_needs_approval_and_is_never_replaced() {
    let mut c = csr();
    c["status"] = json!({"certificate": "Zm9v"});
    assert!(messages(&CsrStrategy.validate(&c))
        .iter()
        .any(|m| m.contains("certificate issued on a request that is not approved")));
    let mut issued = csr();
    issued["status"] =
        json!({"certificate": "Zm9v", "conditions": [{"type": "Approved", "status": "True"}]});
    let mut replaced = issued.clone();
    replaced["status"]["certificate"] = json!("YmFy");
    assert!(messages(&CsrStrategy.validate_update(&replaced, &issued))
        .iter()
        .any(|m| m.contains("may not modify existing certificate content")));
}

#[test]
fn approved_and_denied_exclude_each_other() {
    let mut c = csr();
    c["status"] = json!({"conditions": [
        {"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]});
    assert!(messages(&CsrStrategy.validate(&c))
        .iter()
        .any(|m| m.contains("Approved and Denied conditions are mutually exclusive")));
}
