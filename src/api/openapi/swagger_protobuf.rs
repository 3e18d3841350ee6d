//! The Swagger 2.0 document in protobuf, as kube-apiserver answers
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` (what client-go's
//! `OpenAPISchema()` asks for first): gnostic's `openapi.v2.Document` message, written from
//! the JSON document field by field. Values gnostic keeps as `Any` (defaults, enums,
//! examples, `x-` extensions) carry their JSON text in `Any.yaml`, which YAML reads as is.

use serde_json::{Map, Value};

use crate::api::protobuf::writer::Writer;

/// `openapi.v2.Document` for the Swagger 2.0 document `doc`.
pub fn document(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    w.string(1, text(doc, "swagger"));
    if let Some(info) = doc.get("info") {
        let mut i = Writer::default();
        i.string(1, text(info, "title"));
        i.string(2, text(info, "version"));
        i.string(3, text(info, "description"));
        w.message(2, i);
    }
    for s in strings(doc, "schemes") {
        w.item(5, s);
    }
    for s in strings(doc, "consumes") {
        w.item(6, s);
    }
    for s in strings(doc, "produces") {
        w.item(7, s);
    }
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut p = Writer::default();
        for (name, item) in paths {
            if name.starts_with("x-") {
                p.message(1, named_any(name, item));
            } else {
                p.message(2, named(name, path_item(item)));
            }
        }
        w.message(8, p);
    }
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        w.message(9, named_schemas(defs));
    }
    vendor_extensions(&mut w, 16, doc);
    w.into_bytes()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn number(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn integer(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A `Named*` pair message: `name` at 1, the value message at 2.
fn named(name: &str, value: Writer) -> Writer {
    let mut w = Writer::default();
    w.string(1, name);
    w.message(2, value);
    w
}

/// `Any` with the value's JSON text in `yaml`.
fn any(v: &Value) -> Writer {
    let mut w = Writer::default();
    w.string(2, &v.to_string());
    w
}

fn named_any(name: &str, v: &Value) -> Writer {
    named(name, any(v))
}

/// Every `x-` member of `v` as `NamedAny` at field `n`.
fn vendor_extensions(w: &mut Writer, n: u32, v: &Value) {
    for (k, x) in v.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            w.message(n, named_any(k, x));
        }
    }
}

fn path_item(v: &Value) -> Writer {
    let mut w = Writer::default();
    w.string(1, text(v, "$ref"));
    for (n, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = v.get(method) {
            w.message(n, operation(op));
        }
    }
    for p in v
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(9, parameters_item(p));
    }
    vendor_extensions(&mut w, 10, v);
    w
}

fn operation(v: &Value) -> Writer {
    let mut w = Writer::default();
    for t in strings(v, "tags") {
        w.item(1, t);
    }
    w.string(2, text(v, "summary"));
    w.string(3, text(v, "description"));
    w.string(5, text(v, "operationId"));
    for s in strings(v, "produces") {
        w.item(6, s);
    }
    for s in strings(v, "consumes") {
        w.item(7, s);
    }
    for p in v
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, parameters_item(p));
    }
    if let Some(responses) = v.get("responses").and_then(Value::as_object) {
        let mut r = Writer::default();
        for (code, resp) in responses {
            if code.starts_with("x-") {
                r.message(2, named_any(code, resp));
            } else {
                r.message(1, named(code, response_value(resp)));
            }
        }
        w.message(9, r);
    }
    for s in strings(v, "schemes") {
        w.item(10, s);
    }
    w.bool(11, flag(v, "deprecated"));
    vendor_extensions(&mut w, 13, v);
    w
}

fn json_reference(v: &Value) -> Writer {
    let mut w = Writer::default();
    w.string(1, text(v, "$ref"));
    w.string(2, text(v, "description"));
    w
}

fn parameters_item(v: &Value) -> Writer {
    let mut w = Writer::default();
    if v.get("$ref").is_some() {
        w.message(2, json_reference(v));
        return w;
    }
    let mut param = Writer::default();
    if text(v, "in") == "body" {
        let mut b = Writer::default();
        b.string(1, text(v, "description"));
        b.string(2, text(v, "name"));
        b.string(3, "body");
        b.bool(4, flag(v, "required"));
        if let Some(s) = v.get("schema") {
            b.message(5, schema(s));
        }
        vendor_extensions(&mut b, 6, v);
        param.message(1, b);
    } else {
        let (which, sub) = non_body(v);
        let mut nb = Writer::default();
        nb.message(which, sub);
        param.message(2, nb);
    }
    w.message(1, param);
    w
}

/// A non-body parameter's sub-schema and its field in `NonBodyParameter`. The four
/// messages share their fields but for `allowEmptyValue` (query and form data only), which
/// shifts the numbers after it by one.
fn non_body(v: &Value) -> (u32, Writer) {
    let (which, with_allow_empty) = match text(v, "in") {
        "header" => (1, false),
        "formData" => (2, true),
        "path" => (4, false),
        _ => (3, true),
    };
    let mut w = Writer::default();
    w.bool(1, flag(v, "required"));
    w.string(2, text(v, "in"));
    w.string(3, text(v, "description"));
    w.string(4, text(v, "name"));
    let base = if with_allow_empty {
        w.bool(5, flag(v, "allowEmptyValue"));
        6
    } else {
        5
    };
    w.string(base, text(v, "type"));
    w.string(base + 1, text(v, "format"));
    w.string(base + 3, text(v, "collectionFormat"));
    if let Some(d) = v.get("default") {
        w.message(base + 4, any(d));
    }
    w.double(base + 5, number(v, "maximum"));
    w.bool(base + 6, flag(v, "exclusiveMaximum"));
    w.double(base + 7, number(v, "minimum"));
    w.bool(base + 8, flag(v, "exclusiveMinimum"));
    w.int(base + 9, integer(v, "maxLength"));
    w.int(base + 10, integer(v, "minLength"));
    w.string(base + 11, text(v, "pattern"));
    w.int(base + 12, integer(v, "maxItems"));
    w.int(base + 13, integer(v, "minItems"));
    w.bool(base + 14, flag(v, "uniqueItems"));
    for e in v
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(base + 15, any(e));
    }
    w.double(base + 16, number(v, "multipleOf"));
    vendor_extensions(&mut w, base + 17, v);
    (which, w)
}

fn response_value(v: &Value) -> Writer {
    let mut w = Writer::default();
    if v.get("$ref").is_some() {
        w.message(2, json_reference(v));
        return w;
    }
    let mut r = Writer::default();
    r.string(1, text(v, "description"));
    if let Some(s) = v.get("schema") {
        let mut item = Writer::default();
        item.message(1, schema(s));
        r.message(2, item);
    }
    vendor_extensions(&mut r, 5, v);
    w.message(1, r);
    w
}

fn named_schemas(m: &Map<String, Value>) -> Writer {
    let mut w = Writer::default();
    for (name, s) in m {
        w.message(1, named(name, schema(s)));
    }
    w
}

/// `openapi.v2.Schema`. Nesting is bounded by the document, which the server wrote.
fn schema(v: &Value) -> Writer {
    let mut w = Writer::default();
    w.string(1, text(v, "$ref"));
    w.string(2, text(v, "format"));
    w.string(3, text(v, "title"));
    w.string(4, text(v, "description"));
    if let Some(d) = v.get("default") {
        w.message(5, any(d));
    }
    w.double(6, number(v, "multipleOf"));
    w.double(7, number(v, "maximum"));
    w.bool(8, flag(v, "exclusiveMaximum"));
    w.double(9, number(v, "minimum"));
    w.bool(10, flag(v, "exclusiveMinimum"));
    w.int(11, integer(v, "maxLength"));
    w.int(12, integer(v, "minLength"));
    w.string(13, text(v, "pattern"));
    w.int(14, integer(v, "maxItems"));
    w.int(15, integer(v, "minItems"));
    w.bool(16, flag(v, "uniqueItems"));
    w.int(17, integer(v, "maxProperties"));
    w.int(18, integer(v, "minProperties"));
    for r in strings(v, "required") {
        w.item(19, r);
    }
    for e in v
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(20, any(e));
    }
    match v.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Writer::default();
            a.oneof_bool(2, *b);
            w.message(21, a);
        }
        Some(s @ Value::Object(_)) => {
            let mut a = Writer::default();
            a.message(1, schema(s));
            w.message(21, a);
        }
        _ => {}
    }
    match v.get("type") {
        Some(Value::String(t)) => {
            let mut t_item = Writer::default();
            t_item.item(1, t);
            w.message(22, t_item);
        }
        Some(Value::Array(ts)) => {
            let mut t_item = Writer::default();
            for t in ts.iter().filter_map(Value::as_str) {
                t_item.item(1, t);
            }
            w.message(22, t_item);
        }
        _ => {}
    }
    match v.get("items") {
        Some(s @ Value::Object(_)) => {
            let mut items = Writer::default();
            items.message(1, schema(s));
            w.message(23, items);
        }
        Some(Value::Array(list)) => {
            let mut items = Writer::default();
            for s in list {
                items.message(1, schema(s));
            }
            w.message(23, items);
        }
        _ => {}
    }
    for s in v
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, schema(s));
    }
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        w.message(25, named_schemas(props));
    }
    w.string(26, text(v, "discriminator"));
    w.bool(27, flag(v, "readOnly"));
    if let Some(e) = v.get("example") {
        w.message(30, any(e));
    }
    vendor_extensions(&mut w, 31, v);
    w
}
