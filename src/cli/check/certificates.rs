//! Certificate expiry: the cluster CA's (`pki/ca.crt`) and, on a server, its serving
//! certificate's (`pki/server.crt`), or on an agent its node client certificate's (in
//! `agent/kubelet.kubeconfig`) and kubelet serving certificate's. A warning when less than
//! 90 days remain (k3s and kubeadm renew at that margin): the CA lasts ten years and is
//! never renewed by itself; the others are renewed by `bramble ctl certs rotate` and the
//! kubelet's certificate manager. A board with neither (not yet set up) reports nothing.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Outcome;

/// Less than this left is a warning.
const WARN_DAYS: i64 = 90;

/// The expiry of the first certificate in `pem`.
fn expiry(pem: &str) -> Option<DateTime<Utc>> {
    let (_, not_after) = crate::agent::cert_rotation::validity(pem)?;
    DateTime::from_timestamp(not_after, 0)
}

/// Judges one certificate expiring at `expires`, seen at `now`.
pub fn judge(
    name: &'static str,
    what: &str,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    fix: &str,
) -> Outcome {
    let Some(expires) = expires else {
        return Outcome::warn(name, format!("{what}: unreadable certificate"), fix);
    };
    let left = expires - now;
    let date = expires.format("%Y-%m-%d");
    if left <= chrono::Duration::zero() {
        return Outcome::fail(name, format!("{what} expired on {date}"), fix);
    }
    if left < chrono::Duration::days(WARN_DAYS) {
        return Outcome::warn(
            name,
            format!("{what} expires on {date}, in {} days", left.num_days()),
            fix,
        );
    }
    Outcome::ok(name, format!("{what} expires on {date}"))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The certificate checks for the data directory `data_dir`.
pub fn check(data_dir: &Path) -> Vec<Outcome> {
    let now = Utc::now();
    let mut out = Vec::new();
    let pki = data_dir.join("pki");
    if let Some(ca) = read(&pki.join(crate::pki::CA_CERT_FILE)) {
        out.push(judge(
            "cluster CA",
            "ca.crt",
            expiry(&ca),
            now,
            "plan a new cluster: every board trusts this CA, which Bramble never replaces",
        ));
    }
    if let Some(server) = read(&pki.join(crate::pki::SERVER_CERT_FILE)) {
        out.push(judge(
            "serving cert",
            "server.crt",
            expiry(&server),
            now,
            "run `bramble ctl certs rotate` on this server",
        ));
    }
    let agent = data_dir.join(crate::agent::credentials::KUBECONFIG_PATH);
    if let Ok(kc) = crate::pki::kubeconfig::Kubeconfig::load(&agent) {
        let cert = match &kc.credentials {
            crate::pki::kubeconfig::Credentials::ClientCertificate { cert_pem, .. } => {
                expiry(cert_pem)
            }
            _ => None,
        };
        out.push(judge(
            "node cert",
            "the node's client certificate",
            cert,
            now,
            "start the agent so it renews it; once expired, join again with --token",
        ));
        // The ca of a joined board is in its kubeconfig.
        if !pki.join(crate::pki::CA_CERT_FILE).is_file() {
            out.push(judge(
                "cluster CA",
                "the cluster CA",
                expiry(&kc.ca_pem),
                now,
                "plan a new cluster: every board trusts this CA, which Bramble never replaces",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn less_than_ninety_days_warns_and_an_expired_certificate_fails() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let in_days = |d| Some(now + chrono::Duration::days(d));
        let fine = judge("cluster CA", "ca.crt", in_days(3000), now, "fix");
        assert_eq!(fine.status, super::super::Status::Ok);
        assert!(fine.detail.contains("2034-03-20"), "{}", fine.detail);
        let soon = judge("cluster CA", "ca.crt", in_days(30), now, "fix");
        assert_eq!(soon.status, super::super::Status::Warn);
        assert!(soon.detail.contains("in 30 days"), "{}", soon.detail);
        let gone = judge("cluster CA", "ca.crt", in_days(-1), now, "fix");
        assert_eq!(gone.status, super::super::Status::Fail);
    }

    #[test]
    fn a_new_server_data_dir_shows_the_ca_and_serving_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::pki::Pki::load_or_create(
            &dir.path().join("pki"),
            &crate::pki::ServerNames::default(),
        )
        .unwrap();
        let got = check(dir.path());
        let names: Vec<&str> = got.iter().map(|o| o.name).collect();
        assert_eq!(names, ["cluster CA", "serving cert"]);
        assert!(
            got.iter().all(|o| o.status == super::super::Status::Ok),
            "{got:?}"
        );
    }
}
