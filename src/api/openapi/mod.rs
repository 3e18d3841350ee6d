//! The API description kubectl and client libraries read, as kube-apiserver serves it:
//! `/openapi/v3` (the index of group versions, each under a `?hash=` URL), one OpenAPI 3.0
//! document per group version with its paths and the `components.schemas` they reference, and
//! `/openapi/v2` (Swagger 2.0, every path and definition in one document, JSON only).
//!
//! The schemas come from the build ([`schemas`]); the documents are rendered on request and
//! not kept: only their hashes are (computed once, for the index), so the server holds no
//! megabytes of JSON for a request kubectl makes once and then caches by hash.

mod custom;
pub mod paths;
pub mod schemas;
mod swagger_protobuf;

use std::collections::HashMap;
use std::sync::OnceLock;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use self::paths::Flavor;
use self::schemas::{Definitions, SchemaError};
use super::body::{self, ResponseBody};
use super::reviews::REVIEWS;
use super::status::ApiError;
use crate::resources::{ResourceType, KUBE_MINOR, RESOURCES};

/// The v2 media type client-go asks for first (gnostic's protobuf).
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The same, as kube-openapi now spells it.
const V2_PROTOBUF_CURRENT: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn info() -> Value {
    json!({"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")})
}

/// Every served group version, in the order kinds are listed.
fn group_versions(types: &[&'static ResourceType]) -> Vec<(&'static str, &'static str)> {
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    let kinds = types.iter().map(|r| (r.group, r.version));
    for gv in kinds.chain(REVIEWS.iter().map(|r| (r.group, r.version))) {
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    gvs
}

/// The index key (and URL tail) of a group version: `api/v1`, `apis/apps/v1`.
fn gv_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The OpenAPI v3 document of one group version, or `None` if it is not served.
pub fn v3_document(
    defs: &Definitions,
    types: &[&ResourceType],
    group: &str,
    version: &str,
) -> Option<Value> {
    let paths = paths::paths(Flavor::V3, defs, types, Some((group, version)));
    if paths.is_empty() {
        return None;
    }
    let referenced = paths::referenced(&paths);
    let mut schemas = Map::new();
    for (name, mut schema) in defs.closure(referenced.iter().map(String::as_str)) {
        schemas::wrap_refs_v3(&mut schema);
        schemas.insert(name, schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The Swagger 2.0 document: every path and every definition they reference.
pub fn v2_document(defs: &Definitions, types: &[&ResourceType]) -> Value {
    let paths = paths::paths(Flavor::V2, defs, types, None);
    let referenced = paths::referenced(&paths);
    let mut definitions = Map::new();
    for (name, mut schema) in defs.closure(referenced.iter().map(String::as_str)) {
        schemas::refs_to_v2(&mut schema);
        // Upstream's Swagger says IntOrString is a string of format `int-or-string`.
        if let (true, Some(m)) = (name == schemas::INT_OR_STRING, schema.as_object_mut()) {
            m.remove("x-kubernetes-int-or-string");
            m.insert("type".into(), json!("string"));
            m.insert("format".into(), json!("int-or-string"));
        }
        definitions.insert(name, schema);
    }
    json!({"swagger": "2.0", "info": info(), "paths": paths, "definitions": definitions})
}

/// A document's bytes and its hash, upstream's: SHA-512, upper-case hex.
fn rendered(doc: &Value) -> (Vec<u8>, String) {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let hash = Sha512::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    (bytes, hash)
}

/// The hash of each group version's document, computed once.
fn hashes() -> Result<&'static HashMap<String, String>, &'static SchemaError> {
    static HASHES: OnceLock<Result<HashMap<String, String>, SchemaError>> = OnceLock::new();
    HASHES
        .get_or_init(|| {
            let defs = Definitions::load()?;
            let mut out = HashMap::new();
            for (g, v) in group_versions(RESOURCES) {
                if let Some(doc) = v3_document(&defs, RESOURCES, g, v) {
                    out.insert(gv_key(g, v), rendered(&doc).1);
                }
            }
            Ok(out)
        })
        .as_ref()
}

/// The built-in definitions with those of the custom kinds among `custom` added.
fn definitions(custom: &[&'static ResourceType]) -> Result<Definitions, SchemaError> {
    let mut defs = Definitions::load()?;
    custom::add(&mut defs, custom);
    Ok(defs)
}

/// `/openapi/v3`: where each group version's document lives, under its hash. The custom
/// resources' documents are rendered to be hashed (they change with their CRDs).
pub fn index(custom: &[&'static ResourceType]) -> Result<Value, SchemaError> {
    let hashes = hashes().map_err(|e| SchemaError::Unreadable(e.to_string()))?;
    let mut custom_hashes = HashMap::new();
    if !custom.is_empty() {
        let defs = definitions(custom)?;
        for (g, v) in group_versions(custom) {
            if let Some(doc) = v3_document(&defs, custom, g, v) {
                custom_hashes.insert(gv_key(g, v), rendered(&doc).1);
            }
        }
    }
    let mut paths = Map::new();
    let mut all = RESOURCES.to_vec();
    all.extend_from_slice(custom);
    for (g, v) in group_versions(&all) {
        let key = gv_key(g, v);
        if let Some(hash) = hashes.get(&key).or_else(|| custom_hashes.get(&key)) {
            let url = format!("/openapi/v3/{key}?hash={hash}");
            paths.insert(key, json!({"serverRelativeURL": url}));
        }
    }
    Ok(json!({"paths": paths}))
}

fn internal(e: &SchemaError) -> http::Response<ResponseBody> {
    tracing::error!(error = %e, "the embedded OpenAPI schemas are unreadable");
    body::error(&ApiError::internal(e))
}

fn set(response: &mut http::Response<ResponseBody>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// A document answered with its `ETag`, or `304 Not Modified` when the client holds it.
fn with_etag(
    headers: &HeaderMap,
    bytes: Vec<u8>,
    hash: &str,
    cache_control: &str,
) -> http::Response<ResponseBody> {
    let etag = format!("\"{hash}\"");
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if held {
        body::full(StatusCode::NOT_MODIFIED, "application/json", Vec::new())
    } else {
        body::full(StatusCode::OK, "application/json", bytes)
    };
    set(&mut response, header::ETAG, &etag);
    set(&mut response, header::CACHE_CONTROL, cache_control);
    response
}

/// Answers `/openapi/v2`, `/openapi/v3` and `/openapi/v3/{api/v1,apis/g/v}`; `None` for any
/// other path.
pub fn serve(
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    custom: &[&'static ResourceType],
) -> Option<http::Response<ResponseBody>> {
    if path == "/openapi/v2" {
        return Some(serve_v2(headers, custom));
    }
    if path == "/openapi/v3" {
        let response = match index(custom) {
            Ok(doc) => body::json(StatusCode::OK, &doc),
            Err(e) => internal(&e),
        };
        return Some(response);
    }
    let key = path.strip_prefix("/openapi/v3/")?;
    let (g, v) = match key.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let own: Vec<&'static ResourceType> = custom
        .iter()
        .copied()
        .filter(|r| r.group == g && r.version == v)
        .collect();
    let defs = match definitions(&own) {
        Ok(d) => d,
        Err(e) => return Some(internal(&e)),
    };
    let mut types = RESOURCES.to_vec();
    types.extend(own);
    let doc = v3_document(&defs, &types, g, v)?;
    drop(defs);
    let (bytes, hash) = rendered(&doc);
    drop(doc);
    // As upstream: a `?hash=` URL names one version of the document for ever; an outdated
    // one is redirected to the current one.
    let response = match query.get("hash") {
        Some(asked) if *asked != hash => {
            let mut r = body::full(StatusCode::MOVED_PERMANENTLY, "text/plain", Vec::new());
            set(
                &mut r,
                header::LOCATION,
                &format!("/openapi/v3/{key}?hash={hash}"),
            );
            set(&mut r, header::CACHE_CONTROL, "no-cache, private");
            r
        }
        Some(_) => {
            let mut r = with_etag(headers, bytes, &hash, "public, immutable");
            let expires = chrono::Utc::now() + chrono::Duration::days(365);
            let expires = expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            set(&mut r, header::EXPIRES, &expires);
            r
        }
        None => with_etag(headers, bytes, &hash, "no-cache, private"),
    };
    Some(response)
}

/// The formats `/openapi/v2` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V2Format {
    Json,
    /// gnostic's protobuf (client-go asks for it by the older `@v1.0` name, which Go's
    /// media type parser cannot read back, so answers always name the current one).
    Protobuf,
}

/// The first format of an `Accept` header this server answers in (absent: JSON).
fn v2_format(headers: &HeaderMap) -> Option<V2Format> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(V2Format::Json);
    };
    accept
        .split(',')
        .find_map(|t| match t.split(';').next().unwrap_or("").trim() {
            "application/json" | "application/*" | "*/*" | "" => Some(V2Format::Json),
            V2_PROTOBUF | V2_PROTOBUF_CURRENT => Some(V2Format::Protobuf),
            _ => None,
        })
}

fn serve_v2(headers: &HeaderMap, custom: &[&'static ResourceType]) -> http::Response<ResponseBody> {
    let Some(format) = v2_format(headers) else {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return body::error(&ApiError::not_acceptable(accept));
    };
    let defs = match definitions(custom) {
        Ok(d) => d,
        Err(e) => return internal(&e),
    };
    let mut types = RESOURCES.to_vec();
    types.extend_from_slice(custom);
    let doc = v2_document(&defs, &types);
    drop(defs);
    let (json, hash) = rendered(&doc);
    match format {
        V2Format::Json => with_etag(headers, json, &hash, "no-cache, private"),
        V2Format::Protobuf => {
            drop(json);
            let mut r = with_etag(
                headers,
                swagger_protobuf::document(&doc),
                &hash,
                "no-cache, private",
            );
            set(&mut r, header::CONTENT_TYPE, V2_PROTOBUF_CURRENT);
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Definitions {
        Definitions::load().expect("the embedded schemas load")
    }

    /// Every `$ref` in `doc` names a definition under `prefix` that `doc` holds.
    fn refs_resolve(doc: &Value, prefix: &str, holder: &Value) {
        match doc {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.strip_prefix(prefix).expect("a local reference");
                    assert!(holder.get(name).is_some(), "{r} does not resolve");
                }
                m.values().for_each(|c| refs_resolve(c, prefix, holder));
            }
            Value::Array(a) => a.iter().for_each(|c| refs_resolve(c, prefix, holder)),
            _ => {}
        }
    }

    #[test]
    fn core_document_holds_pods_and_what_they_reference() {
        let doc = v3_document(&defs(), RESOURCES, "", "v1").expect("core v1 is served");
        let schemas = &doc["components"]["schemas"];
        refs_resolve(&doc, "#/components/schemas/", schemas);
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Pod"}])
        );
        // a reference with a description of its own is wrapped, as upstream's v3
        assert_eq!(
            pod["properties"]["spec"]["allOf"],
            json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
        );
        let probe = &schemas["io.k8s.api.core.v1.Probe"]["properties"]["httpGet"];
        assert!(probe["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(schemas.get("io.k8s.api.apps.v1.Deployment").is_none());
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert!(patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some());
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        let list = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"];
        assert_eq!(list["x-kubernetes-group-version-kind"]["kind"], "PodList");
    }

    #[test]
    fn apps_paths_name_their_kinds_and_scale() {
        let doc = v3_document(&defs(), RESOURCES, "apps", "v1").expect("apps/v1 is served");
        let base = "/apis/apps/v1/namespaces/{namespace}/deployments";
        let post = &doc["paths"][base]["post"];
        assert_eq!(
            post["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        let scale = &doc["paths"][format!("{base}/{{name}}/scale")]["put"];
        assert_eq!(
            scale["x-kubernetes-group-version-kind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        assert!(doc["components"]["schemas"]
            .get("io.k8s.api.autoscaling.v1.Scale")
            .is_some());
        let daemonsets = "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale";
        assert!(doc["paths"].get(daemonsets).is_none());
    }

    #[test]
    fn every_group_version_is_indexed_under_its_hash() {
        let index = index(&[]).expect("the index renders");
        let d = defs();
        for (g, v) in group_versions(RESOURCES) {
            let key = gv_key(g, v);
            let url = index["paths"][&key]["serverRelativeURL"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not indexed"));
            let doc = v3_document(&d, RESOURCES, g, v).expect("an indexed group version is served");
            let hash = rendered(&doc).1;
            assert_eq!(hash.len(), 128);
            assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        }
        assert!(index["paths"].get("apis/authorization.k8s.io/v1").is_some());
    }

    #[test]
    fn served_hash_answers_immutable_and_stale_hash_redirects() {
        let index = index(&[]).expect("the index renders");
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .expect("core v1 indexed");
        let hash = url.split("hash=").nth(1).expect("a hash").to_string();
        let query = HashMap::from([("hash".to_string(), hash.clone())]);
        let r = serve("/openapi/v3/api/v1", &query, &HeaderMap::new(), &[]).expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::ETAG], format!("\"{hash}\"").as_str());
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, immutable");

        let mut held = HeaderMap::new();
        held.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"{hash}\"")).expect("header"),
        );
        let r = serve("/openapi/v3/api/v1", &HashMap::new(), &held, &[]).expect("served");
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

        let stale = HashMap::from([("hash".to_string(), "00".to_string())]);
        let r = serve("/openapi/v3/api/v1", &stale, &HeaderMap::new(), &[]).expect("served");
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[header::LOCATION], url);
        assert!(serve(
            "/openapi/v3/apis/nope/v1",
            &HashMap::new(),
            &HeaderMap::new(),
            &[]
        )
        .is_none());
    }

    #[test]
    fn v2_document_has_definitions_and_paths_of_every_group() {
        let doc = v2_document(&defs(), RESOURCES);
        assert_eq!(doc["swagger"], "2.0");
        refs_resolve(&doc, "#/definitions/", &doc["definitions"]);
        for r in RESOURCES.iter() {
            let gvk = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
            let found = doc["definitions"]
                .as_object()
                .expect("definitions")
                .values()
                .any(|d| d["x-kubernetes-group-version-kind"] == gvk);
            assert!(found, "{} has no definition", r.kind);
        }
        let get = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["get"];
        assert_eq!(
            get["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        let put = &doc["paths"]["/api/v1/nodes/{name}"]["put"];
        let body = put["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["in"] == "body")
            .expect("a body parameter");
        assert_eq!(
            body["schema"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Node"
        );
    }

    #[test]
    fn v2_answers_protobuf_or_json_as_asked() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(V2_PROTOBUF));
        let r = serve("/openapi/v2", &HashMap::new(), &h, &[]).expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], V2_PROTOBUF_CURRENT);
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let r = serve("/openapi/v2", &HashMap::new(), &h, &[]).expect("served");
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, */*"),
        );
        let r = serve("/openapi/v2", &HashMap::new(), &h, &[]).expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
