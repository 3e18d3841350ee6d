//! The JSON shapes of etcd's v3 gateway (grpc-gateway over `etcdserverpb`): keys and values
//! are base64, 64-bit integers are strings, and fields at their default (zero, false, empty)
//! are left out, so every field here defaults. Anything etcd sends that does not fit is a
//! decoding error, never a panic.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// Base64 text of `bytes`, as the gateway takes keys and values.
pub(super) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The end of the key range that holds every key starting with `prefix` (etcd's
/// `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range runs to the end of the key space.
    vec![0]
}

/// A 64-bit integer, sent by the gateway as a string (or, leniently, a number); negative
/// values are refused since every one read here is a revision, count or lease id.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(D::Error::custom),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| D::Error::custom(format_args!("{n} is not a revision"))),
        Value::Null => Ok(0),
        other => Err(D::Error::custom(format_args!("{other} is not an integer"))),
    }
}

/// Bytes sent as base64 text.
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    STANDARD.decode(text).map_err(D::Error::custom)
}

/// The header of every answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Header {
    /// The store's revision when the request was served.
    #[serde(deserialize_with = "int64")]
    pub revision: u64,
    /// The member that served it.
    #[serde(deserialize_with = "int64")]
    pub member_id: u64,
}

/// One key and its value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct KeyValue {
    #[serde(deserialize_with = "bytes")]
    pub key: Vec<u8>,
    #[serde(deserialize_with = "int64")]
    pub create_revision: u64,
    #[serde(deserialize_with = "int64")]
    pub mod_revision: u64,
    #[serde(deserialize_with = "bytes")]
    pub value: Vec<u8>,
}

/// The answer to `/v3/kv/range`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RangeResponse {
    pub header: Header,
    pub kvs: Vec<KeyValue>,
    pub more: bool,
}

/// One answer inside a transaction's.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ResponseOp {
    pub response_range: Option<RangeResponse>,
}

/// The answer to `/v3/kv/txn`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct TxnResponse {
    pub header: Header,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

/// The answer to `/v3/lease/grant`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct LeaseGrantResponse {
    #[serde(rename = "ID", deserialize_with = "int64")]
    pub id: u64,
    /// Set when the grant failed.
    pub error: String,
}

/// The answer to `/v3/maintenance/status` (tests find the leader with it).
#[cfg(test)]
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct StatusResponse {
    pub header: Header,
    #[serde(deserialize_with = "int64")]
    pub leader: u64,
}

/// What a watch event did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum EventKind {
    /// Written (the default, so the gateway leaves it out).
    #[default]
    #[serde(rename = "PUT")]
    Put,
    /// Deleted.
    #[serde(rename = "DELETE")]
    Delete,
}

/// One change a watch reports.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WatchEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// One message of the watch stream.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WatchResponse {
    pub header: Header,
    pub created: bool,
    pub canceled: bool,
    #[serde(deserialize_with = "int64")]
    pub compact_revision: u64,
    pub cancel_reason: String,
    pub events: Vec<WatchEvent>,
}

/// The stream's envelope: a response, or the gateway's error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WatchMessage {
    pub result: Option<WatchResponse>,
    pub error: Option<GatewayError>,
}

/// The gateway's error body (a gRPC status).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct GatewayError {
    pub code: i64,
    pub message: String,
    pub error: String,
}

impl GatewayError {
    /// etcd's text of the error.
    pub(super) fn text(&self) -> String {
        if self.message.is_empty() {
            self.error.clone()
        } else {
            self.message.clone()
        }
    }
}

/// A range request over `[key, end)` (all of `key` alone when `end` is empty), at
/// `revision` (0: the newest), at most `limit` keys (0: all).
pub(super) fn range(key: &[u8], end: &[u8], revision: u64, limit: u64) -> Value {
    let mut req = json!({"key": b64(key), "revision": revision.to_string()});
    if !end.is_empty() {
        req["range_end"] = json!(b64(end));
    }
    if limit > 0 {
        req["limit"] = json!(limit.to_string());
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_covers_every_key_under_the_prefix() {
        assert_eq!(prefix_end(b"/bramble/"), b"/bramble0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn decodes_what_the_gateway_sends_and_refuses_what_it_cannot() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"revision":"7"},"kvs":[{"key":"Zm9v","mod_revision":"5","value":"YmFy"}],"more":true}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision, 7);
        assert_eq!(r.kvs[0].key, b"foo");
        assert_eq!(r.kvs[0].value, b"bar");
        assert_eq!(r.kvs[0].mod_revision, 5);
        assert!(r.more);
        let w: WatchMessage = serde_json::from_str(
            r#"{"result":{"events":[{"kv":{"key":"Zm9v"}},{"type":"DELETE","kv":{}}]}}"#,
        )
        .unwrap();
        let events = w.result.unwrap().events;
        assert_eq!(events[0].kind, EventKind::Put);
        assert_eq!(events[1].kind, EventKind::Delete);
        for bad in [
            r#"{"header":{"revision":"-1"}}"#,
            r#"{"header":{"revision":"x"}}"#,
            r#"{"kvs":[{"key":"!!"}]}"#,
            r#"{"kvs":{}}"#,
            r#"{"header":{"revision":"99999999999999999999999"}}"#,
        ] {
            assert!(serde_json::from_str::<RangeResponse>(bad).is_err(), "{bad}");
        }
    }
}
