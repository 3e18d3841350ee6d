//! The leader election record as a `coordination.k8s.io/v1` Lease holds it (client-go's
//! `resourcelock.LeaderElectionRecord` ↔ `LeaseSpec`): holder, duration in whole seconds,
//! acquire and renew times in `metav1.MicroTime` text, and the count of holder changes.

use serde_json::{json, Map, Value};

/// What one Lease says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// Who holds the lease; empty when nobody does (released).
    pub holder: String,
    /// How long the holder may go without renewing, in seconds.
    pub lease_duration_seconds: i64,
    /// When the holder acquired it (MicroTime text).
    pub acquire_time: Option<String>,
    /// When the holder last renewed it (MicroTime text).
    pub renew_time: Option<String>,
    /// How many times the holder changed.
    pub lease_transitions: i64,
}

/// Now as `metav1.MicroTime` writes it: RFC 3339 in UTC with microseconds.
pub fn micro_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl LeaseRecord {
    /// The record in a Lease object's `spec` (missing fields read as upstream's zero values).
    pub fn from_spec(spec: &Value) -> Self {
        let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_string);
        LeaseRecord {
            holder: text("holderIdentity").unwrap_or_default(),
            lease_duration_seconds: spec
                .get("leaseDurationSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            acquire_time: text("acquireTime"),
            renew_time: text("renewTime"),
            lease_transitions: spec
                .get("leaseTransitions")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        }
    }

    /// The record as a Lease `spec`; every field is written, so a merge patch of it leaves
    /// nothing of the previous holder behind.
    pub fn to_spec(&self) -> Value {
        let mut spec = Map::new();
        spec.insert("holderIdentity".into(), json!(self.holder));
        spec.insert(
            "leaseDurationSeconds".into(),
            json!(self.lease_duration_seconds),
        );
        spec.insert("acquireTime".into(), json!(self.acquire_time));
        spec.insert("renewTime".into(), json!(self.renew_time));
        spec.insert("leaseTransitions".into(), json!(self.lease_transitions));
        Value::Object(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_lease_spec() {
        let record = LeaseRecord {
            holder: "pi-1_0c1d".into(),
            lease_duration_seconds: 15,
            acquire_time: Some("2026-01-02T03:04:05.123456Z".into()),
            renew_time: Some(micro_now()),
            lease_transitions: 3,
        };
        assert_eq!(LeaseRecord::from_spec(&record.to_spec()), record);
        let now = micro_now();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&now).is_ok() && now.len() == 27,
            "{now}"
        );
    }

    #[test]
    fn a_spec_without_fields_is_a_free_lease() {
        let record = LeaseRecord::from_spec(&json!({}));
        assert!(record.holder.is_empty());
        assert_eq!(record.lease_transitions, 0);
    }
}
