//! End-to-end checks of the PKI directory: creation, reuse, re-issue, and real handshakes.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use super::*;
use crate::pki::identity::identity_from_certificate;

fn names(ip: &str) -> ServerNames {
    ServerNames {
        dns: vec!["pi-1".into()],
        ips: vec![ip.parse().unwrap()],
    }
}

fn leaf_der(pem: &str) -> Vec<u8> {
    ca::first_certificate(pem).unwrap().to_vec()
}

fn sans(
    pem: &str,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<IpAddr>,
) {
    let der = leaf_der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    certs::subject_alt_names(&cert)
}

/// Runs a TLS handshake in memory; returns the server side for inspection.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    host: &str,
) -> Result<ServerConnection, rustls::Error> {
    let mut server = ServerConnection::new(server)?;
    let mut client =
        ClientConnection::new(client, ServerName::try_from(host.to_string()).unwrap())?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        server.process_new_packets()?;
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets()?;
        if !server.is_handshaking() && !client.is_handshaking() {
            return Ok(server);
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn first_start_creates_private_keys_and_later_starts_reuse_everything() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    for (file, mode) in [
        (CA_KEY_FILE, 0o600),
        (SERVER_KEY_FILE, 0o600),
        (CA_CERT_FILE, 0o644),
    ] {
        let meta = fs::metadata(dir.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    let der = leaf_der(pki.ca_pem());
    let (_, ca) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(ca.subject().to_string(), "CN=bramble-ca");
    let years = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp())
        / (365 * 24 * 3600);
    assert!((9..=10).contains(&years), "CA valid for {years} years");

    let again = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    assert_eq!(again.ca_pem(), pki.ca_pem());
    assert_eq!(again.server_cert_pem(), pki.server_cert_pem());
}

#[test]
fn server_certificate_names_every_address_and_follows_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    let (dns, ips) = sans(pki.server_cert_pem());
    for name in [
        "pi-1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        assert!(dns.contains(name), "missing {name}");
    }
    for ip in ["127.0.0.1", "::1", "192.168.1.40"] {
        assert!(ips.contains(&ip.parse().unwrap()), "missing {ip}");
    }

    // The board moved to another address: same CA, new server certificate covering it.
    let moved = Pki::load_or_create(dir.path(), &names("10.0.0.7")).unwrap();
    assert_eq!(moved.ca_pem(), pki.ca_pem());
    assert_ne!(moved.server_cert_pem(), pki.server_cert_pem());
    assert!(sans(moved.server_cert_pem())
        .1
        .contains(&"10.0.0.7".parse().unwrap()));
    let on_disk = fs::read_to_string(dir.path().join(SERVER_CERT_FILE)).unwrap();
    assert_eq!(on_disk, moved.server_cert_pem());
}

#[test]
fn client_certificate_from_reloaded_ca_carries_user_and_every_group() {
    let dir = tempfile::tempdir().unwrap();
    drop(Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap());
    let pki = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    let (cert_pem, key_pem) = pki
        .ca()
        .issue_client("alice", &["dev", "system:masters"], 30)
        .unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    let who = identity_from_certificate(&leaf_der(&cert_pem)).unwrap();
    assert_eq!(who.user, "alice");
    assert_eq!(
        who.groups,
        vec!["dev", "system:masters", "system:authenticated"]
    );

    // The certificate (with its rewritten subject) is accepted by the server's verifier.
    let server = pki.server_tls_config().unwrap();
    let client = pki.client_tls_config(&cert_pem, &key_pem).unwrap();
    let conn = handshake(server, client, "kubernetes.default.svc").unwrap();
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    let peer = conn.peer_certificates().unwrap();
    assert_eq!(identity_from_certificate(&peer[0]).unwrap().user, "alice");
}

#[test]
fn client_certificate_is_optional_but_foreign_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    let server = pki.server_tls_config().unwrap();

    let token_client = client_tls_config(pki.ca_pem(), None).unwrap();
    let conn = handshake(server.clone(), token_client, "192.168.1.40").unwrap();
    assert!(conn.peer_certificates().is_none());

    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::load_or_create(other_dir.path(), &names("192.168.1.40")).unwrap();
    let (cert, key) = other
        .ca()
        .issue_client("mallory", &["system:masters"], 1)
        .unwrap();
    let forged = client_tls_config(pki.ca_pem(), Some((&cert, &key))).unwrap();
    assert!(handshake(server.clone(), forged, "localhost").is_err());

    // A client that trusts another CA refuses this server.
    let wrong_trust = client_tls_config(other.ca_pem(), None).unwrap();
    assert!(handshake(server, wrong_trust, "localhost").is_err());
}

#[test]
fn half_a_ca_is_reported_instead_of_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap());
    fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
    let err = Pki::load_or_create(dir.path(), &names("192.168.1.40"))
        .err()
        .unwrap();
    assert!(matches!(err, PkiError::IncompletePair { .. }), "{err}");
    assert!(dir.path().join(CA_KEY_FILE).exists());
}

#[test]
fn server_certificate_near_expiry_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    let (cert, key) = certs::issue_server(&pki.ca.0, &names("192.168.1.40"), 30).unwrap();
    fs::write(dir.path().join(SERVER_CERT_FILE), &cert).unwrap();
    fs::write(dir.path().join(SERVER_KEY_FILE), &key).unwrap();
    let renewed = Pki::load_or_create(dir.path(), &names("192.168.1.40")).unwrap();
    assert_ne!(renewed.server_cert_pem(), cert);
    let der = leaf_der(renewed.server_cert_pem());
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let days = (parsed.validity().not_after.timestamp() - chrono::Utc::now().timestamp()) / 86400;
    assert!(days >= 364, "renewed for {days} days");
}
