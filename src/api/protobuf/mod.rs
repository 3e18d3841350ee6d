//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into
//! the object's JSON form so they enter the same create/update path as JSON bodies.
//!
//! client-go's typed clients (and so `kubectl create configmap`, `kubectl run`, …) send
//! objects in the envelope of apimachinery's protobuf serializer
//! (`runtime/serializer/protobuf`): the magic bytes `k8s\0`, then a `runtime.Unknown`
//! message `{1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
//! 4: contentType}` whose `raw` is the object's own message. The object is decoded with the
//! message tables of [`schema`] into exactly the JSON its Go type would marshal to.

mod json;
pub mod schema;
mod well_known;
pub mod wire;
pub mod writer;

#[cfg(test)]
mod test_encoder;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use thiserror::Error;

use self::wire::{Reader, WireError, WireValue};
use super::status::ApiError;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every protobuf-encoded object starts with (`protoEncodingPrefix`).
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// A malformed message inside the envelope.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The wire format itself is broken.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A field or value that cannot be mapped (wrong wire type, bad well-known value).
    #[error("{0}")]
    Malformed(String),
    /// Messages nested deeper than any served kind does.
    #[error("proto: messages nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Why a protobuf request body could not be decoded.
#[derive(Debug, Error)]
pub enum ProtobufError {
    /// No bytes at all.
    #[error("empty data")]
    EmptyData,
    /// The body does not start with [`MAGIC`].
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NoPrefix,
    /// Only the magic bytes.
    #[error("empty body")]
    EmptyBody,
    /// The `runtime.Unknown` envelope is malformed.
    #[error("{0}")]
    Envelope(DecodeError),
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in '{0}'")]
    MissingKind(String),
    /// The envelope names no apiVersion.
    #[error("Object 'apiVersion' is missing in '{0}'")]
    MissingVersion(String),
    /// A kind this server has no message table for.
    #[error("the protobuf encoding of kind \"{kind}\" in version \"{api_version}\" is not supported - send it as application/json or application/yaml")]
    UnsupportedKind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
    /// The object's message is malformed; worded as the API server's `transformDecodeError`.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {source}")]
    Object {
        /// The object's kind.
        kind: String,
        /// The version part of its apiVersion.
        version: String,
        /// What is wrong.
        source: DecodeError,
    },
}

impl From<ProtobufError> for ApiError {
    fn from(e: ProtobufError) -> Self {
        match e {
            ProtobufError::UnsupportedKind { .. } => {
                ApiError::new(415, "UnsupportedMediaType", e.to_string())
            }
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

/// The parts of `runtime.Unknown` the decoder needs.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

/// Decodes a protobuf request body into the object's JSON form, `apiVersion` and `kind`
/// included.
pub fn decode(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let env = envelope(bytes)?;
    // Go's `%#v` of `runtime.TypeMeta`, as `NewMissingKindErr` quotes it.
    let type_meta = || {
        format!(
            "runtime.TypeMeta{{APIVersion:{:?}, Kind:{:?}}}",
            env.api_version, env.kind
        )
    };
    if env.kind.is_empty() {
        return Err(ProtobufError::MissingKind(type_meta()));
    }
    if env.api_version.is_empty() {
        return Err(ProtobufError::MissingVersion(type_meta()));
    }
    let schema = schema::schema();
    let Some(msg) = schema::root(&env.api_version, &env.kind).and_then(|n| schema.message(n))
    else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: env.api_version,
            kind: env.kind,
        });
    };
    let mut obj: Map<String, Value> =
        json::message(schema, msg, env.raw).map_err(|source| ProtobufError::Object {
            version: env
                .api_version
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            kind: env.kind.clone(),
            source,
        })?;
    obj.insert("apiVersion".into(), Value::String(env.api_version));
    obj.insert("kind".into(), Value::String(env.kind));
    Ok(Value::Object(obj))
}

/// Checks the magic bytes and reads `runtime.Unknown` (`Serializer.Decode`).
fn envelope(bytes: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let data = match bytes {
        [] => return Err(ProtobufError::EmptyData),
        b if !b.starts_with(&MAGIC) => return Err(ProtobufError::NoPrefix),
        b if b.len() == MAGIC.len() => return Err(ProtobufError::EmptyBody),
        b => &b[MAGIC.len()..],
    };
    let mut env = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
    };
    let mut r = Reader::new(data);
    let broken = |e: WireError| ProtobufError::Envelope(DecodeError::Wire(e));
    while let Some((number, value)) = r.field().map_err(broken)? {
        let wrong = |v: &WireValue| {
            ProtobufError::Envelope(DecodeError::Malformed(format!(
                "proto: wrong wireType = {} for field {number} of runtime.Unknown",
                v.wire_type()
            )))
        };
        match (number, value) {
            (1, WireValue::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, v)) = t.field().map_err(broken)? {
                    match (n, v) {
                        (1, WireValue::Bytes(s)) => env.api_version = text(s),
                        (2, WireValue::Bytes(s)) => env.kind = text(s),
                        (1 | 2, other) => return Err(wrong(&other)),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(raw)) => env.raw = raw,
            (1..=4, other) if !matches!(other, WireValue::Bytes(_)) => return Err(wrong(&other)),
            _ => {}
        }
    }
    Ok(env)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
