//! Node certificates renewed through CertificateSigningRequests, and the server's own
//! certificates rotated: a board whose certificates live two minutes renews both before
//! they expire and keeps working; an administrator approves and denies requests with
//! kubectl; `bramble ctl certs rotate` replaces the serving certificate of a running server.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::pem::PemObject;

use crate::support::board::IDLE;
use crate::support::joined::{pod_on, TwoBoards, BOARD};
use crate::support::{eventually, Cluster};

/// How long node certificates live in the rotation test.
const LIFETIME: &str = "2m";
/// Longer than a certificate's life plus the time to renew it.
const ROTATION_DEADLINE: Duration = Duration::from_secs(300);

/// (notBefore, notAfter) of the first certificate in `pem`.
fn validity(pem: &str) -> (i64, i64) {
    bramble::agent::cert_rotation::validity(pem).expect("a certificate")
}

fn client_cert(boards: &TwoBoards) -> String {
    let path = boards
        .agent
        .data_dir
        .join(bramble::agent::credentials::KUBECONFIG_PATH);
    match bramble::pki::kubeconfig::Kubeconfig::load(&path)
        .expect("node kubeconfig")
        .credentials
    {
        bramble::pki::kubeconfig::Credentials::ClientCertificate { cert_pem, .. } => cert_pem,
        other => panic!("node kubeconfig without a certificate: {other:?}"),
    }
}

fn serving_cert(boards: &TwoBoards) -> Option<String> {
    let path = boards
        .agent
        .data_dir
        .join(bramble::agent::cert_rotation::SERVING_PATH);
    bramble::agent::cert_rotation::read_pem_pair(&path).map(|(c, _)| c)
}

#[test]
fn a_joined_board_renews_both_certificates_before_they_expire() {
    let mut boards = TwoBoards::start(
        190,
        &[("library/busybox", IDLE)],
        &["--node-cert-lifetime", LIFETIME],
    );
    boards.cluster.apply(&pod_on(
        "ticker",
        BOARD,
        "trap 'exit 0' TERM; while true; do echo tick; sleep 1; done",
    ));
    eventually("the pod on the board to log", || {
        let out = boards.cluster.kubectl(&["logs", "ticker", "--tail=1"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("tick")
            .then_some(())
    });
    let first_client = client_cert(&boards);
    let first_serving = eventually("the serving certificate", || serving_cert(&boards));
    let (_, client_expiry) = validity(&first_client);
    let (_, serving_expiry) = validity(&first_serving);
    let life = client_expiry - validity(&first_client).0;
    assert!(
        life <= 150,
        "the join honoured --node-cert-lifetime: {life}s"
    );

    // Past both first certificates' expiry, each has been replaced, and everything works.
    let start = Instant::now();
    loop {
        assert!(
            !boards.agent.exited(),
            "the agent exited:\n{}",
            boards.agent.log()
        );
        let now = chrono::Utc::now().timestamp();
        let client = client_cert(&boards);
        let serving = serving_cert(&boards).unwrap_or_default();
        if now > client_expiry.max(serving_expiry) + 5
            && client != first_client
            && serving != first_serving
        {
            // what is in use now is still valid
            assert!(validity(&client).1 > now, "the client certificate expired");
            assert!(
                validity(&serving).1 > now,
                "the serving certificate expired"
            );
            break;
        }
        assert!(
            start.elapsed() < ROTATION_DEADLINE,
            "certificates not renewed in time (client renewed: {}, serving renewed: {}):\n{}",
            client != first_client,
            serving != first_serving,
            boards.agent.log()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    boards.wait_ready(BOARD);
    let logs = boards.cluster.kubectl_ok(&["logs", "ticker", "--tail=2"]);
    assert!(logs.contains("tick"), "{logs}");
    // The renewals went through approved and issued requests of the node.
    let csrs = boards.cluster.kubectl_ok(&["get", "csr"]);
    assert!(
        csrs.contains("kubernetes.io/kube-apiserver-client-kubelet"),
        "{csrs}"
    );
    assert!(csrs.contains("kubernetes.io/kubelet-serving"), "{csrs}");
    assert!(csrs.contains(&format!("system:node:{BOARD}")), "{csrs}");
    assert!(csrs.contains("Approved,Issued"), "{csrs}");
}

fn csr_yaml(name: &str, expiration: u32) -> String {
    let (pem, _) = bramble::pki::csr::generate_request(
        "system:node:hand-made",
        Some("system:nodes"),
        &[],
        &[],
    )
    .expect("request");
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {{name: {name}}}
spec:
  request: {request}
  signerName: kubernetes.io/kube-apiserver-client-kubelet
  expirationSeconds: {expiration}
  usages: [digital signature, client auth]
"
    )
}

#[test]
fn an_administrator_approves_and_denies_requests_with_kubectl() {
    let c = Cluster::start();
    let refused = c.kubectl_as(
        &c.kubeconfig(),
        &["apply", "-f", "-"],
        Some(&csr_yaml("short", 599)),
    );
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        text.contains("may not specify a duration less than 600 seconds (10 minutes)"),
        "{text}"
    );
    c.apply(&csr_yaml("by-hand", 600));
    c.apply(&csr_yaml("unwanted", 3600));
    // the admin asked for another user's certificate: no approver takes it
    let table = c.kubectl_ok(&["get", "csr", "by-hand"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION"
        ]
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row[0], "by-hand");
    assert_eq!(row[2], "kubernetes.io/kube-apiserver-client-kubelet");
    assert_eq!(row[3], "admin");
    assert_eq!(row[4], "10m");
    assert_eq!(row[5], "Pending");

    c.kubectl_ok(&["certificate", "approve", "by-hand"]);
    c.kubectl_ok(&["certificate", "deny", "unwanted"]);
    eventually("the approved request to be issued", || {
        let t = c.kubectl_ok(&["get", "csr", "by-hand", "--no-headers"]);
        t.contains("Approved,Issued").then_some(())
    });
    let denied = c.kubectl_ok(&["get", "csr", "unwanted", "--no-headers"]);
    assert!(
        denied.contains("Denied") && !denied.contains("Issued"),
        "{denied}"
    );
    let cert = c.jsonpath(&["csr", "by-hand"], "{.status.certificate}");
    let pem = base64::engine::general_purpose::STANDARD
        .decode(cert)
        .expect("base64");
    let pem = String::from_utf8(pem).expect("PEM");
    let (nb, na) = validity(&pem);
    assert!(
        na - nb <= 600 + 60,
        "the request's 600 s were honoured: {}",
        na - nb
    );
    // a decision stays
    let again = c.kubectl(&["certificate", "deny", "by-hand"]);
    assert!(
        !again.status.success()
            || c.kubectl_ok(&["get", "csr", "by-hand", "--no-headers"])
                .contains("Approved"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The leaf certificate the server at `host:port` presents, in DER.
fn served_certificate(host: &str, port: u16, ca_pem: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("connection");
    let mut tcp = TcpStream::connect((host, port)).expect("connect");
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("handshake");
    conn.peer_certificates().expect("peer certificates")[0].to_vec()
}

#[test]
fn certs_rotate_replaces_the_serving_certificate_of_a_running_server() {
    let c = Cluster::start();
    let pki = c.data_dir().join("pki");
    let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
    let before = served_certificate(&c.host, c.port, &ca);
    let out = Command::new(env!("CARGO_BIN_EXE_bramble"))
        .args(["ctl", "certs", "rotate", "--data-dir"])
        .arg(c.data_dir())
        .args(["--san", &c.host])
        .output()
        .expect("bramble ctl certs rotate");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("server.crt") && said.contains("admin.kubeconfig"),
        "{said}"
    );
    let written = std::fs::read_to_string(pki.join("server.crt")).expect("server.crt");
    let written = rustls::pki_types::CertificateDer::pem_slice_iter(written.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec();
    assert_ne!(before, written);
    eventually("the server to serve the new certificate", || {
        (served_certificate(&c.host, c.port, &ca) == written).then_some(())
    });
    // the rotated admin kubeconfig still works
    c.kubectl_ok(&["get", "namespaces"]);
}
