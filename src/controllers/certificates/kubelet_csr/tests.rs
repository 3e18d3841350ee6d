use std::collections::BTreeSet;
use std::net::IpAddr;

use base64::Engine;
use serde_json::json;

use super::*;
use crate::pki::csr::generate_request;

fn csr(
    signer: &str,
    requester: (&str, &[&str]),
    cn: &str,
    org: Option<&str>,
    dns: &[&str],
    ips: &[&str],
    usages: &[&str],
) -> CertificateSigningRequest {
    let dns: Vec<String> = dns.iter().map(|d| d.to_string()).collect();
    let ips: Vec<IpAddr> = ips.iter().map(|i| i.parse().unwrap()).collect();
    let (pem, _) = generate_request(cn, org, &dns, &ips).unwrap();
    serde_json::from_value(json!({"metadata": {"name": "csr-1"}, "spec": {
        "request": base64::engine::general_purpose::STANDARD.encode(pem),
        "signerName": signer, "usages": usages,
        "username": requester.0, "groups": requester.1}}))
    .unwrap()
}

const NODE: (&str, &[&str]) = (
    "system:node:pi-2",
    &["system:nodes", "system:authenticated"],
);
const CLIENT_USAGES: &[&str] = &["digital signature", "client auth"];
const SERVING_USAGES: &[&str] = &["digital signature", "key encipherment", "server auth"];

fn client(requester: (&str, &[&str]), cn: &str, org: Option<&str>) -> CertificateSigningRequest {
    csr(
        KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
        requester,
        cn,
        org,
        &[],
        &[],
        CLIENT_USAGES,
    )
}

#[test]
fn a_node_renewing_its_own_client_certificate_is_approved() {
    let verdict = client_verdict(&client(NODE, "system:node:pi-2", Some("system:nodes")));
    assert!(matches!(verdict, Verdict::Approve(m) if m.contains("self kubelet client")));
}

#[test]
fn a_bootstrap_request_is_approved_and_strangers_are_left_pending() {
    let bootstrap = ("system:bootstrap:abcdef", &["system:bootstrappers"][..]);
    assert!(matches!(
        client_verdict(&client(bootstrap, "system:node:pi-3", Some("system:nodes"))),
        Verdict::Approve(_)
    ));
    // another node's name, another group, or a stranger: not recognized
    assert_eq!(
        client_verdict(&client(NODE, "system:node:pi-3", Some("system:nodes"))),
        Verdict::Ignore
    );
    assert_eq!(
        client_verdict(&client(NODE, "system:node:pi-2", Some("system:masters"))),
        Verdict::Ignore
    );
    let stranger = ("alice", &["system:authenticated"][..]);
    assert_eq!(
        client_verdict(&client(stranger, "system:node:pi-2", Some("system:nodes"))),
        Verdict::Ignore
    );
    // a client certificate with server usages is not a kubelet client request
    let odd = csr(
        KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
        NODE,
        "system:node:pi-2",
        Some("system:nodes"),
        &[],
        &[],
        &["server auth"],
    );
    assert_eq!(client_verdict(&odd), Verdict::Ignore);
    assert!(signer_problem(KUBE_APISERVER_CLIENT_KUBELET_SIGNER, &odd).is_some());
}

fn api() -> ApiServerNames {
    ApiServerNames {
        dns: ["kubernetes".to_string(), "server-1".to_string()].into(),
        ips: [
            "10.43.0.1".parse().unwrap(),
            "192.168.1.10".parse().unwrap(),
        ]
        .into(),
    }
}

fn serving(dns: &[&str], ips: &[&str]) -> CertificateSigningRequest {
    csr(
        KUBELET_SERVING_SIGNER,
        NODE,
        "system:node:pi-2",
        Some("system:nodes"),
        dns,
        ips,
        SERVING_USAGES,
    )
}

fn reported() -> BTreeSet<IpAddr> {
    ["192.168.1.20".parse().unwrap()].into()
}

#[test]
fn a_serving_certificate_for_the_nodes_own_name_and_address_is_approved() {
    let v = serving_verdict(
        &serving(&["pi-2"], &["192.168.1.20"]),
        Some(&reported()),
        &api(),
    );
    assert!(matches!(v, Verdict::Approve(_)), "{v:?}");
    assert_eq!(
        signer_problem(
            KUBELET_SERVING_SIGNER,
            &serving(&["pi-2"], &["192.168.1.20"])
        ),
        None
    );
}

#[test]
fn serving_certificates_for_other_names_or_the_api_servers_are_denied() {
    let deny = |c: &CertificateSigningRequest, r: Option<&BTreeSet<IpAddr>>| match serving_verdict(
        c,
        r,
        &api(),
    ) {
        Verdict::Deny(why) => why,
        other => panic!("{other:?}"),
    };
    assert!(
        deny(&serving(&["pi-2"], &["192.168.1.10"]), Some(&reported()))
            .contains("it is an address of the API server")
    );
    assert!(
        deny(&serving(&["pi-2"], &["192.168.1.99"]), Some(&reported()))
            .contains("does not report that address")
    );
    assert!(deny(&serving(&["pi-2"], &["127.0.0.1"]), Some(&reported())).contains("loopback"));
    assert!(deny(&serving(&["kubernetes"], &[]), Some(&reported())).contains("its own name"));
    assert!(deny(&serving(&["pi-2"], &["192.168.1.20"]), None).contains("not registered"));
    // a node whose name is the API server's
    let named_like_server = csr(
        KUBELET_SERVING_SIGNER,
        ("system:node:server-1", &["system:nodes"]),
        "system:node:server-1",
        Some("system:nodes"),
        &["server-1"],
        &[],
        SERVING_USAGES,
    );
    assert!(deny(&named_like_server, Some(&reported())).contains("is a name of the API server"));
    // a node asking for another node's certificate
    let other = csr(
        KUBELET_SERVING_SIGNER,
        NODE,
        "system:node:pi-3",
        Some("system:nodes"),
        &["pi-3"],
        &[],
        SERVING_USAGES,
    );
    assert!(deny(&other, Some(&reported())).contains("only a node, for itself"));
}
