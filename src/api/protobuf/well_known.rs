//! The apimachinery types with custom JSON forms: `resource.Quantity`, `metav1.Time`,
//! `metav1.MicroTime`, `metav1.Duration`, `intstr.IntOrString`, `runtime.RawExtension` and
//! `metav1.FieldsV1`. Each is a small message on the wire and a string, number or raw JSON
//! in the object's JSON form, as its Go `MarshalJSON` writes it.

use chrono::{DateTime, Datelike};
use serde_json::Value;

use super::schema::Kind;
use super::wire::{Reader, WireValue};
use super::DecodeError;

/// Unix seconds of Go's zero `time.Time` (January 1, year 1, UTC), which `metav1.Time`
/// writes as `null`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// The message fields of a well-known type, by number.
#[derive(Default)]
struct Parts<'a> {
    varints: [Option<u64>; 4],
    bytes: [Option<&'a [u8]>; 4],
}

fn parts<'a>(what: &str, bytes: &'a [u8]) -> Result<Parts<'a>, DecodeError> {
    let mut out = Parts::default();
    let mut r = Reader::new(bytes);
    while let Some((number, value)) = r.field()? {
        let Some(i) = usize::try_from(number).ok().filter(|i| *i < 4) else {
            continue;
        };
        match value {
            WireValue::Varint(v) => out.varints[i] = Some(v),
            WireValue::Bytes(b) => out.bytes[i] = Some(b),
            other => {
                return Err(DecodeError::Malformed(format!(
                    "proto: wrong wireType = {} for field {number} of {what}",
                    other.wire_type()
                )))
            }
        }
    }
    Ok(out)
}

/// Decodes the message of a well-known type into its JSON value.
pub fn decode(kind: Kind, bytes: &[u8]) -> Result<Value, DecodeError> {
    match kind {
        Kind::Quantity => quantity(bytes),
        Kind::Time => time(bytes, false),
        Kind::MicroTime => time(bytes, true),
        Kind::Duration => {
            let p = parts("Duration", bytes)?;
            Ok(Value::String(go_duration(p.varints[1].unwrap_or(0) as i64)))
        }
        Kind::IntOrString => int_or_string(bytes),
        Kind::RawJson => raw_json(bytes),
        other => Err(DecodeError::Malformed(format!(
            "{other:?} is not a well-known type"
        ))),
    }
}

/// `Quantity` is `{1: string}`; Go parses the string while decoding, so an empty one fails
/// with `ParseQuantity`'s error, and an absent one is the zero quantity.
fn quantity(bytes: &[u8]) -> Result<Value, DecodeError> {
    let p = parts("Quantity", bytes)?;
    match p.bytes[1] {
        None => Ok(Value::String("0".into())),
        Some([]) => Err(DecodeError::Malformed(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                .into(),
        )),
        Some(s) => Ok(Value::String(String::from_utf8_lossy(s).into_owned())),
    }
}

/// `Time` and `MicroTime` are a `Timestamp {1: seconds, 2: nanos}`; an empty message is the
/// zero time. `Time` drops the nanoseconds (`Time.Unmarshal`), `MicroTime` truncates them to
/// microseconds (`MicroTime.Unmarshal`); both write RFC 3339 in UTC, or `null` when zero.
fn time(bytes: &[u8], micro: bool) -> Result<Value, DecodeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let p = parts("Timestamp", bytes)?;
    let seconds = p.varints[1].unwrap_or(0) as i64;
    let nanos = if micro {
        let n = i64::from(p.varints[2].unwrap_or(0) as i32);
        n - n % 1000
    } else {
        0
    };
    // `time.Unix` normalises nanoseconds outside [0, 1e9) into the seconds.
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000));
    let nanos = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(seconds) = seconds else {
        return Err(out_of_range());
    };
    if seconds == GO_ZERO_TIME_SECONDS && nanos == 0 {
        return Ok(Value::Null);
    }
    let t = DateTime::from_timestamp(seconds, nanos).ok_or_else(out_of_range)?;
    if !(0..=9999).contains(&t.year()) {
        return Err(out_of_range());
    }
    let text = if micro {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ")
    };
    Ok(Value::String(text.to_string()))
}

fn out_of_range() -> DecodeError {
    DecodeError::Malformed("Time.MarshalJSON: year outside of range [0,9999]".into())
}

/// `IntOrString {1: type, 2: intVal, 3: strVal}` is a number when `type` is 0 and a string
/// when it is 1 (`IntOrString.MarshalJSON`).
fn int_or_string(bytes: &[u8]) -> Result<Value, DecodeError> {
    let p = parts("IntOrString", bytes)?;
    match p.varints[1].unwrap_or(0) {
        0 => Ok(Value::from(p.varints[2].unwrap_or(0) as i32)),
        1 => Ok(Value::String(
            String::from_utf8_lossy(p.bytes[3].unwrap_or_default()).into_owned(),
        )),
        _ => Err(DecodeError::Malformed("impossible IntOrString.Type".into())),
    }
}

/// `RawExtension` and `FieldsV1` are `{1: raw}` holding JSON, written as is; no bytes is
/// `null`.
fn raw_json(bytes: &[u8]) -> Result<Value, DecodeError> {
    let p = parts("RawExtension", bytes)?;
    match p.bytes[1] {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => serde_json::from_slice(raw)
            .map_err(|e| DecodeError::Malformed(format!("embedded raw JSON is invalid: {e}"))),
    }
}

/// Formats nanoseconds as Go's `time.Duration.String` does: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (digits, unit) = match u {
            0..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        return format!("{sign}{}{unit}", fraction(u, digits));
    }
    let secs = u / 1_000_000_000;
    let frac = fraction(u % 1_000_000_000 + secs % 60 * 1_000_000_000, 9);
    let (mins, hours) = (secs / 60 % 60, secs / 3600);
    match (hours, secs / 60) {
        (0, 0) => format!("{sign}{frac}s"),
        (0, _) => format!("{sign}{mins}m{frac}s"),
        _ => format!("{sign}{hours}h{mins}m{frac}s"),
    }
}

/// `v / 10^digits` with the fraction's trailing zeros (and a bare point) dropped.
fn fraction(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (whole, part) = (v / scale, v % scale);
    if part == 0 {
        return whole.to_string();
    }
    let text = format!("{part:0width$}", width = digits as usize);
    format!("{whole}.{}", text.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(15), "15ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(2_000_000), "2ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90 * 1_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600 * 1_000_000_000), "1h0m0s");
        assert_eq!(
            go_duration(-(3_723 * 1_000_000_000 + 500_000_000)),
            "-1h2m3.5s"
        );
    }

    #[test]
    fn times_drop_or_truncate_fractions() {
        // seconds 1704164645 (2024-01-02T03:04:05Z), nanos 123456789.
        let ts = [
            0x08, 0xa5, 0xfa, 0xcd, 0xac, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a,
        ];
        assert_eq!(time(&ts, false).unwrap(), "2024-01-02T03:04:05Z");
        assert_eq!(time(&ts, true).unwrap(), "2024-01-02T03:04:05.123456Z");
        assert_eq!(time(&[], false).unwrap(), Value::Null);
    }

    #[test]
    fn int_or_string_and_quantity_forms() {
        assert_eq!(int_or_string(&[0x10, 0x90, 0x3f]).unwrap(), 8080);
        assert_eq!(
            int_or_string(&[0x08, 1, 0x1a, 4, b'h', b't', b't', b'p']).unwrap(),
            "http"
        );
        assert!(int_or_string(&[0x08, 7]).is_err());
        assert_eq!(
            quantity(&[0x0a, 4, b'6', b'4', b'M', b'i']).unwrap(),
            "64Mi"
        );
        assert_eq!(quantity(&[]).unwrap(), "0");
        assert!(quantity(&[0x0a, 0]).is_err());
    }
}
