//! The JSON mapping: walks an encoded message with its table and builds the JSON object the
//! same Go struct would marshal to, so a protobuf body and a JSON body of one object decode
//! alike. Zero scalars follow `omitempty`, embedded messages merge as gogo's generated
//! `Unmarshal` does, and the well-known types (`Quantity`, `Time`, `MicroTime`, `Duration`,
//! `IntOrString`, `RawExtension`) take their custom JSON forms.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::schema::{Field, Kind, Message, Schema, Shape};
use super::well_known;
use super::wire::{packed_varints, Reader, WireValue};
use super::DecodeError;

/// How deep messages may nest; the deepest served path (a pod's ephemeral volume claim
/// template selector) is about a dozen levels, so this only stops hostile input.
pub const MAX_DEPTH: usize = 64;

/// Decodes one message into a JSON object.
pub fn message(
    schema: &Schema,
    msg: &Message,
    bytes: &[u8],
) -> Result<Map<String, Value>, DecodeError> {
    let mut out = Map::new();
    merge(schema, msg, bytes, &mut out, 0)?;
    Ok(out)
}

/// Decodes `bytes` as `msg` into `out`; a message field seen twice merges, as in proto2.
fn merge(
    schema: &Schema,
    msg: &Message,
    bytes: &[u8],
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let mut r = Reader::new(bytes);
    while let Some((number, value)) = r.field()? {
        // Unknown fields are skipped, as `skipGenerated` does.
        let Some(field) = msg.field(number) else {
            continue;
        };
        match field.shape {
            Shape::Inline => merge(
                schema,
                sub(schema, field)?,
                len(field, value)?,
                out,
                depth + 1,
            )?,
            Shape::Single { keep_zero } => {
                if let Kind::Message(_) = field.kind {
                    let slot = out
                        .entry(field.json)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(m) = slot {
                        merge(
                            schema,
                            sub(schema, field)?,
                            len(field, value)?,
                            m,
                            depth + 1,
                        )?;
                    }
                    continue;
                }
                let v = single(schema, field, value, depth)?;
                if keep_zero || !is_zero(&v) || is_well_known(field.kind) {
                    out.insert(field.json.into(), v);
                } else {
                    out.remove(field.json);
                }
            }
            Shape::Repeated => {
                let items = repeated(schema, field, value, depth)?;
                let slot = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = slot {
                    a.extend(items);
                } else {
                    *slot = Value::Array(items);
                }
            }
            Shape::Map => {
                let (k, v) = entry(schema, field, len(field, value)?, depth)?;
                let slot = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = slot {
                    m.insert(k, v);
                }
            }
        }
    }
    Ok(())
}

/// The well-known types are Go structs, so `omitempty` never drops them.
fn is_well_known(kind: Kind) -> bool {
    !matches!(
        kind,
        Kind::String | Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Bytes
    )
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Null => true,
        _ => false,
    }
}

fn sub<'s>(schema: &'s Schema, field: &Field) -> Result<&'s Message, DecodeError> {
    match field.kind {
        Kind::Message(name) => schema
            .message(name)
            .ok_or_else(|| DecodeError::Malformed(format!("no table for message {name}"))),
        _ => Err(DecodeError::Malformed(format!(
            "field {} is not a message",
            field.json
        ))),
    }
}

fn wrong_wire(field: &Field, value: &WireValue) -> DecodeError {
    DecodeError::Malformed(format!(
        "proto: wrong wireType = {} for field {}",
        value.wire_type(),
        field.json
    ))
}

fn len<'a>(field: &Field, value: WireValue<'a>) -> Result<&'a [u8], DecodeError> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        other => Err(wrong_wire(field, &other)),
    }
}

fn varint(field: &Field, value: WireValue) -> Result<u64, DecodeError> {
    match value {
        WireValue::Varint(v) => Ok(v),
        other => Err(wrong_wire(field, &other)),
    }
}

/// Converts one varint to JSON as Go does: int32 keeps the low 32 bits, int64 all 64.
fn scalar(kind: Kind, v: u64) -> Value {
    match kind {
        Kind::Bool => Value::Bool(v != 0),
        Kind::Int32 => Value::from(v as i32),
        _ => Value::from(v as i64),
    }
}

/// One non-repeated value (not a table message).
fn single(
    schema: &Schema,
    field: &Field,
    value: WireValue,
    depth: usize,
) -> Result<Value, DecodeError> {
    let kind = field.kind;
    Ok(match kind {
        Kind::Bool | Kind::Int32 | Kind::Int64 => scalar(kind, varint(field, value)?),
        Kind::String => Value::String(text(len(field, value)?)),
        Kind::Bytes => Value::String(B64.encode(len(field, value)?)),
        Kind::Message(_) => {
            let mut m = Map::new();
            merge(
                schema,
                sub(schema, field)?,
                len(field, value)?,
                &mut m,
                depth + 1,
            )?;
            Value::Object(m)
        }
        _ => well_known::decode(kind, len(field, value)?)?,
    })
}

/// The values one occurrence of a repeated field contributes: one, or many when packed.
fn repeated(
    schema: &Schema,
    field: &Field,
    value: WireValue,
    depth: usize,
) -> Result<Vec<Value>, DecodeError> {
    match (field.kind, value) {
        (Kind::Bool | Kind::Int32 | Kind::Int64, WireValue::Bytes(b)) => Ok(packed_varints(b)?
            .into_iter()
            .map(|v| scalar(field.kind, v))
            .collect()),
        _ => Ok(vec![single(schema, field, value, depth)?]),
    }
}

/// A map entry: a message with the key in field 1 and the value in field 2; a missing part
/// is its zero value, as in Go.
fn entry(
    schema: &Schema,
    field: &Field,
    bytes: &[u8],
    depth: usize,
) -> Result<(String, Value), DecodeError> {
    let mut key = String::new();
    let mut val = None;
    let mut r = Reader::new(bytes);
    while let Some((number, value)) = r.field()? {
        match number {
            1 => key = text(len(field, value)?),
            2 => val = Some(single(schema, field, value, depth)?),
            _ => {}
        }
    }
    let val = match val {
        Some(v) => v,
        None => match field.kind {
            Kind::Quantity => Value::String("0".into()),
            Kind::Int32 | Kind::Int64 => Value::from(0),
            Kind::Bool => Value::Bool(false),
            Kind::Message(_) => Value::Object(Map::new()),
            _ => Value::String(String::new()),
        },
    };
    Ok((key, val))
}

/// Go strings may hold any bytes; its JSON encoder writes invalid UTF-8 as U+FFFD.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
