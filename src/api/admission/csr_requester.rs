//! A new CertificateSigningRequest names its requester: `spec.username`, `groups`, `uid`
//! and `extra` come from the authenticated user, whatever the body said, as upstream's
//! CSR strategy `PrepareForCreate` fills them from the request's user. Approvers and signers
//! trust these fields, so a client can never claim to be another.

use serde_json::{json, Value};

use crate::pki::identity::Identity;
use crate::resources::{certificatesigningrequest, ResourceType};

/// Fills the requester of a CSR about to be created; other kinds are left alone. Without a
/// requester (a write from inside the server) the fields are cleared.
pub fn admit(rt: &ResourceType, obj: &mut Value, requester: Option<&Identity>) {
    if !std::ptr::eq(rt, &certificatesigningrequest::RESOURCE) {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["username", "uid", "groups", "extra"] {
        spec.remove(field);
    }
    let Some(who) = requester else {
        return;
    };
    spec.insert("username".into(), json!(who.user));
    if !who.uid.is_empty() {
        spec.insert("uid".into(), json!(who.uid));
    }
    if !who.groups.is_empty() {
        spec.insert("groups".into(), json!(who.groups));
    }
    if !who.extra.is_empty() {
        spec.insert("extra".into(), json!(who.extra));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requester_replaces_whatever_the_body_claimed() {
        let who = Identity::authenticated("system:node:pi-2", vec!["system:nodes".into()]);
        let mut csr = json!({"spec": {"username": "admin", "groups": ["system:masters"],
            "signerName": "kubernetes.io/kubelet-serving"}});
        admit(&certificatesigningrequest::RESOURCE, &mut csr, Some(&who));
        assert_eq!(csr["spec"]["username"], "system:node:pi-2");
        assert_eq!(
            csr["spec"]["groups"],
            json!(["system:nodes", "system:authenticated"])
        );
        assert_eq!(csr["spec"]["signerName"], "kubernetes.io/kubelet-serving");
        let mut anonymous = json!({"spec": {"username": "admin"}});
        admit(&certificatesigningrequest::RESOURCE, &mut anonymous, None);
        assert_eq!(anonymous["spec"].get("username"), None);
    }
}
