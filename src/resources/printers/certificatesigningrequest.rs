//! `kubectl get csr`: upstream's `printCertificateSigningRequest` (name, age, signer name,
//! requestor, requested duration, condition).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::duration::human_duration;
use super::{age_cell, at, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// CertificateSigningRequest columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    AGE,
    text_column(
        "SignerName",
        "Only use well-known signer names or names of signers you run.",
        0,
    ),
    text_column("Requestor", "Name of the user who created the request.", 0),
    text_column(
        "RequestedDuration",
        "The requested duration of the issued certificate.",
        0,
    ),
    text_column(
        "Condition",
        "The approval state and issuance of the request.",
        0,
    ),
];

/// Upstream's `extractCSRStatus`: Denied, else Approved, else Pending, then `,Failed` and
/// `,Issued`.
pub fn condition(csr: &Value) -> String {
    let has = |kind: &str| {
        list(csr, &["status", "conditions"])
            .iter()
            .any(|c| c["type"] == kind)
    };
    let mut out = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        out.push_str(",Failed");
    }
    if !text(csr, &["status", "certificate"]).is_empty() {
        out.push_str(",Issued");
    }
    out
}

fn row(csr: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let duration = match at(csr, &["spec", "expirationSeconds"]).and_then(Value::as_i64) {
        Some(secs) => human_duration(TimeDelta::seconds(secs)),
        None => "<none>".to_string(),
    };
    vec![
        name_cell(csr),
        age_cell(csr, now),
        cell(text(csr, &["spec", "signerName"])),
        cell(text(csr, &["spec", "username"])),
        cell(duration),
        cell(condition(csr)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_show_the_signer_requestor_duration_and_condition() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pending = json!({"metadata": {"name": "csr-1", "creationTimestamp": "2024-05-01T11:59:00Z"},
            "spec": {"signerName": "kubernetes.io/kubelet-serving", "username": "system:node:pi-2",
                     "expirationSeconds": 3600}});
        assert_eq!(
            (PRINTER.row)(&pending, now),
            vec![
                json!("csr-1"),
                json!("60s"),
                json!("kubernetes.io/kubelet-serving"),
                json!("system:node:pi-2"),
                json!("60m"),
                json!("Pending")
            ]
        );
        let issued = json!({"metadata": {"name": "csr-2"}, "spec": {},
            "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "Zm9v"}});
        let r = (PRINTER.row)(&issued, now);
        assert_eq!(r[4], json!("<none>"));
        assert_eq!(r[5], json!("Approved,Issued"));
        let denied = json!({"status": {"conditions": [{"type": "Denied"}, {"type": "Failed"}]}});
        assert_eq!(condition(&denied), "Denied,Failed");
    }
}
