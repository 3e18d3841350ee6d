//! Go's `fmt` rendering of decoded JSON, for error messages that must read as upstream's.
//!
//! Upstream strategic-merge errors print values with `%v` (`map: map[image:nginx] does not
//! contain declared merge key: name`) and types with `reflect.TypeOf`. Upstream decodes
//! patches with `UnmarshalCaseSensitivePreserveInts`, so integers are `int64` and every other
//! number is `float64`; this module follows that split.

use serde_json::Value;

/// The Go type name `reflect.TypeOf` prints for a decoded JSON value.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if is_int(n) => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The word Go's `json.UnmarshalTypeError` uses for a JSON value (`cannot unmarshal array`).
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether upstream would hold this number as an `int64`.
pub fn is_int(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64()
}

/// `fmt.Sprintf("%v", v)`: maps as `map[k:v ...]` with sorted keys, slices as `[a b]`.
pub fn value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// `fmt.Sprintf("%s", v)`: strings bare, anything else in Go's `%!s(type=value)` form.
pub fn string_verb(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_string(),
        Value::Bool(_) | Value::Number(_) => format!("%!s({}={})", type_name(v), value(v)),
        Value::Array(_) | Value::Object(_) => value(v),
    }
}

/// `%v` of a list (`[a b]`).
pub fn list(items: &[Value]) -> String {
    let mut out = String::new();
    write_list(&mut out, items);
    out
}

fn write_list(out: &mut String, items: &[Value]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(out, item);
    }
    out.push(']');
}

/// `%v` of a decoded JSON object (`map[k:v ...]`).
pub fn map(m: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, m);
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("map[");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        write_value(out, v);
    }
    out.push(']');
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if is_int(n) => out.push_str(&n.to_string()),
        Value::Number(n) => out.push_str(&float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => write_list(out, items),
        Value::Object(map) => write_map(out, map),
    }
}

/// `%v` of a float64: shortest digits, exponent form when the exponent is below -4 or at
/// least 6 (Go's `%g` with shortest precision), exponent written with a sign and two digits.
fn float(f: f64) -> String {
    if !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_print_like_go() {
        let v = json!({"name": "a", "image": "nginx", "ports": [80, 1.5], "x": null});
        assert_eq!(value(&v), "map[image:nginx name:a ports:[80 1.5] x:<nil>]");
    }

    #[test]
    fn floats_switch_to_exponent_like_go() {
        assert_eq!(float(1e6), "1e+06");
        assert_eq!(float(123456.5), "123456.5");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(2.5e21), "2.5e+21");
    }

    #[test]
    fn type_names_follow_reflect() {
        assert_eq!(type_name(&json!(1)), "int64");
        assert_eq!(type_name(&json!(1.0)), "float64");
        assert_eq!(type_name(&json!({})), "map[string]interface {}");
        assert_eq!(string_verb(&json!(1)), "%!s(int64=1)");
    }
}
