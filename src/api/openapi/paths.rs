//! The `paths` of the OpenAPI documents: the operations served for each kind of one group
//! version, with the kind they take and answer, in OpenAPI v3 or Swagger 2.0 form.
//!
//! Every operation lists the `fieldValidation` parameter, which tells kubectl that the server
//! validates fields itself (server-side field validation), and every `patch` lists
//! `application/strategic-merge-patch+json`, which tells kubectl to compute apply patches from
//! the schemas' patch extensions.

use serde_json::{json, Map, Value};

use super::schemas::{Definitions, V2_PREFIX, V3_PREFIX};
use crate::api::reviews::REVIEWS;
use crate::resources::ResourceType;

/// Which document the paths are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAPI 3.0 (`/openapi/v3/...`).
    V3,
    /// Swagger 2.0 (`/openapi/v2`).
    V2,
}

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
const BODY_TYPES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// One operation: what it does to which kind, what it takes and what it answers.
struct Op<'a> {
    id: String,
    action: &'a str,
    gvk: Value,
    /// Definition name of the request body; `None` for no body, `Some("")` for a patch.
    body: Option<&'a str>,
    /// Definition name of the answer.
    answer: &'a str,
    codes: &'a [&'a str],
}

fn schema_ref(flavor: Flavor, name: &str) -> Value {
    let prefix = match flavor {
        Flavor::V3 => V3_PREFIX,
        Flavor::V2 => V2_PREFIX,
    };
    json!({"$ref": format!("{prefix}{name}")})
}

fn query_param(flavor: Flavor, name: &str, description: &str) -> Value {
    match flavor {
        Flavor::V3 => {
            json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
        }
        Flavor::V2 => {
            json!({"name": name, "in": "query", "description": description, "type": "string", "uniqueItems": true})
        }
    }
}

fn path_param(flavor: Flavor, name: &str) -> Value {
    let description = format!("{name} of the object");
    match flavor {
        Flavor::V3 => {
            json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
        }
        Flavor::V2 => {
            json!({"name": name, "in": "path", "required": true, "description": description, "type": "string", "uniqueItems": true})
        }
    }
}

fn render(flavor: Flavor, op: &Op<'_>) -> Value {
    let mut params = vec![query_param(
        flavor,
        "pretty",
        "If 'true', then the output is pretty printed.",
    )];
    if op.body.is_some() {
        params.push(query_param(flavor, "dryRun", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"));
        params.push(query_param(flavor, "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
        params.push(query_param(flavor, "fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"));
    }
    if op.action == "patch" {
        params.push(query_param(
            flavor,
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
    }
    let mut o = json!({
        "operationId": op.id,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
        "parameters": params,
    });
    let answer = schema_ref(flavor, op.answer);
    let mut responses = Map::new();
    for code in op.codes {
        let r = match flavor {
            Flavor::V3 => {
                let content: Map<String, Value> = BODY_TYPES
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": answer})))
                    .collect();
                json!({"description": "OK", "content": content})
            }
            Flavor::V2 => json!({"description": "OK", "schema": answer}),
        };
        responses.insert(code.to_string(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    o["responses"] = Value::Object(responses);
    let Some(body) = op.body else {
        if flavor == Flavor::V2 {
            o["produces"] = json!(BODY_TYPES);
            o["consumes"] = json!(["*/*"]);
        }
        return o;
    };
    let (types, schema): (&[&str], Value) = if op.action == "patch" {
        (&PATCH_TYPES, json!({"type": "object"}))
    } else {
        (&BODY_TYPES, schema_ref(flavor, body))
    };
    match flavor {
        Flavor::V3 => {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": schema})))
                .collect();
            o["requestBody"] = json!({"content": content, "required": true});
        }
        Flavor::V2 => {
            let Some(Value::Array(params)) = o.get_mut("parameters") else {
                return o;
            };
            params.push(json!({"name": "body", "in": "body", "required": true, "schema": schema}));
            o["consumes"] = json!(types);
            o["produces"] = json!(BODY_TYPES);
        }
    }
    o
}

fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

/// The collection path of a kind, its object path and the parameters of each.
fn bases(group: &str, version: &str, plural: &str, namespaced: bool) -> (String, String) {
    let prefix = gv_prefix(group, version);
    let base = if namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{plural}")
    } else {
        format!("{prefix}/{plural}")
    };
    let object = format!("{base}/{{name}}");
    (base, object)
}

fn item(flavor: Flavor, ops: Vec<(&str, Value)>, params: &[&str]) -> Value {
    let mut m: Map<String, Value> = ops.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let params: Vec<Value> = params.iter().map(|p| path_param(flavor, p)).collect();
    m.insert("parameters".into(), Value::Array(params));
    Value::Object(m)
}

/// The definition name a subresource takes and answers, with its kind, if it is an object
/// operation (logs and exec are streams, not objects).
fn subresource_kind(r: &ResourceType, sub: &str) -> Option<(&'static str, &'static str)> {
    match sub {
        "scale" => Some(("io.k8s.api.autoscaling.v1.Scale", "Scale")),
        "binding" => Some(("io.k8s.api.core.v1.Binding", "Binding")),
        "eviction" => Some(("io.k8s.api.policy.v1.Eviction", "Eviction")),
        "token" => Some(("io.k8s.api.authentication.v1.TokenRequest", "TokenRequest")),
        "status" | "finalize" | "ephemeralcontainers" | "approval" => Some(("", r.kind)),
        _ => None,
    }
}

fn resource_paths(
    flavor: Flavor,
    defs: &Definitions,
    r: &ResourceType,
    out: &mut Map<String, Value>,
) {
    let (g, v) = (r.group, r.version);
    let Some(name) = defs.kind_name(g, v, r.kind) else {
        return;
    };
    let list_kind = format!("{}List", r.kind);
    let list = defs.kind_name(g, v, &list_kind).unwrap_or_default();
    let (base, object) = bases(g, v, r.plural, r.namespaced);
    let ns: &[&str] = if r.namespaced { &["namespace"] } else { &[] };
    let with_name: &[&str] = if r.namespaced {
        &["name", "namespace"]
    } else {
        &["name"]
    };
    let op = |id: String,
              action: &'static str,
              body: Option<&str>,
              answer: &str,
              codes: &'static [&'static str]| {
        let kind = if answer == list {
            list_kind.as_str()
        } else {
            r.kind
        };
        render(
            flavor,
            &Op {
                id,
                action,
                gvk: gvk(g, v, kind),
                body,
                answer,
                codes,
            },
        )
    };
    let k = r.kind;
    out.insert(
        base.clone(),
        item(
            flavor,
            vec![
                ("get", op(format!("list{k}"), "list", None, &list, &["200"])),
                (
                    "post",
                    op(
                        format!("create{k}"),
                        "post",
                        Some(&name),
                        &name,
                        &["200", "201", "202"],
                    ),
                ),
                (
                    "delete",
                    op(
                        format!("deletecollection{k}"),
                        "deletecollection",
                        None,
                        STATUS,
                        &["200"],
                    ),
                ),
            ],
            ns,
        ),
    );
    out.insert(
        object.clone(),
        item(
            flavor,
            vec![
                ("get", op(format!("read{k}"), "get", None, &name, &["200"])),
                (
                    "put",
                    op(
                        format!("replace{k}"),
                        "put",
                        Some(&name),
                        &name,
                        &["200", "201"],
                    ),
                ),
                (
                    "patch",
                    op(
                        format!("patch{k}"),
                        "patch",
                        Some(""),
                        &name,
                        &["200", "201"],
                    ),
                ),
                (
                    "delete",
                    op(
                        format!("delete{k}"),
                        "delete",
                        Some(DELETE_OPTIONS),
                        &name,
                        &["200", "202"],
                    ),
                ),
            ],
            with_name,
        ),
    );
    for sub in r.subresources {
        let Some((def, sub_kind)) = subresource_kind(r, sub) else {
            continue;
        };
        let def = if def.is_empty() { name.as_str() } else { def };
        let (sg, sv) = match *sub {
            "scale" => ("autoscaling", "v1"),
            "eviction" => ("policy", "v1"),
            "token" => ("authentication.k8s.io", "v1"),
            _ => (g, v),
        };
        let title: String = sub[..1].to_uppercase() + &sub[1..];
        let sop = |verb: &str, action: &'static str, body: Option<&str>| {
            render(
                flavor,
                &Op {
                    id: format!("{verb}{k}{title}"),
                    action,
                    gvk: gvk(sg, sv, sub_kind),
                    body,
                    answer: def,
                    codes: &["200", "201"],
                },
            )
        };
        let ops = match *sub {
            "binding" | "eviction" | "token" => vec![("post", sop("create", "post", Some(def)))],
            "finalize" => vec![("put", sop("replace", "put", Some(def)))],
            _ => vec![
                ("get", sop("read", "get", None)),
                ("put", sop("replace", "put", Some(def))),
                ("patch", sop("patch", "patch", Some(""))),
            ],
        };
        out.insert(format!("{object}/{sub}"), item(flavor, ops, with_name));
    }
}

/// The paths of one group version (of every group version with `None`).
pub fn paths(
    flavor: Flavor,
    defs: &Definitions,
    types: &[&ResourceType],
    gv: Option<(&str, &str)>,
) -> Map<String, Value> {
    let wanted = |g: &str, v: &str| gv.map_or(true, |(wg, wv)| wg == g && wv == v);
    let mut out = Map::new();
    for r in types.iter().filter(|r| wanted(r.group, r.version)) {
        resource_paths(flavor, defs, r, &mut out);
    }
    for r in REVIEWS.iter().filter(|r| wanted(r.group, r.version)) {
        let Some(name) = defs.kind_name(r.group, r.version, r.kind) else {
            continue;
        };
        let (base, _) = bases(r.group, r.version, r.plural, r.namespaced);
        let op = Op {
            id: format!("create{}", r.kind),
            action: "post",
            gvk: gvk(r.group, r.version, r.kind),
            body: Some(&name),
            answer: &name,
            codes: &["200", "201", "202"],
        };
        let ns: &[&str] = if r.namespaced { &["namespace"] } else { &[] };
        out.insert(base, item(flavor, vec![("post", render(flavor, &op))], ns));
    }
    out
}

/// The definition names the paths reference.
pub fn referenced(paths: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.rsplit('/').next().unwrap_or(r);
                    if !out.iter().any(|n| n == name) {
                        out.push(name.to_string());
                    }
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    paths.values().for_each(|p| walk(p, &mut out));
    out
}
