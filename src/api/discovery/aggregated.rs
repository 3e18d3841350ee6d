//! Aggregated discovery (`apidiscovery.k8s.io`): every group, version and resource in one
//! `APIGroupDiscoveryList`, which clients ask `/api` and `/apis` for with
//! `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` (or `v2beta1`)
//! instead of fetching each group version's `APIResourceList`. Each resource carries its
//! verbs, scope, response kind, short names, categories and subresources, the same facts as
//! the legacy documents.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::{groups, subresource_info, Types, ALL_VERBS};
use crate::api::body::{self, ResponseBody};
use crate::api::unstored;
use crate::resources::ResourceType;

const GROUP: &str = "apidiscovery.k8s.io";
const KIND: &str = "APIGroupDiscoveryList";

/// The aggregated format's version a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `apidiscovery.k8s.io/v2`.
    V2,
    /// `apidiscovery.k8s.io/v2beta1` (same shape).
    V2Beta1,
}

impl Format {
    fn version(self) -> &'static str {
        match self {
            Format::V2 => "v2",
            Format::V2Beta1 => "v2beta1",
        }
    }

    /// The media type naming this format, as `Content-Type`.
    pub fn media_type(self) -> String {
        format!("application/json;g={GROUP};v={};as={KIND}", self.version())
    }
}

/// The aggregated format the `Accept` header asks for, taking its media types in order until
/// one is served: the first aggregated JSON one, or `None` when a plain type comes first (or
/// there is no header), which the legacy documents answer.
pub fn wanted(headers: &HeaderMap) -> Option<Format> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let essence = parts.next().unwrap_or("");
        let (mut g, mut v, mut r#as) = ("", "", "");
        for param in parts {
            match param.split_once('=') {
                Some(("g", x)) => g = x,
                Some(("v", x)) => v = x,
                Some(("as", x)) => r#as = x,
                _ => {}
            }
        }
        let aggregated = g == GROUP && r#as == KIND;
        match (essence, aggregated, v) {
            ("application/json", true, "v2") => return Some(Format::V2),
            ("application/json", true, "v2beta1") => return Some(Format::V2Beta1),
            // an aggregated type not served here (protobuf, another version): try the next
            (_, true, _) => continue,
            ("application/json" | "application/*" | "*/*", false, _) => return None,
            _ => continue,
        }
    }
    None
}

fn scope(namespaced: bool) -> &'static str {
    if namespaced {
        "Namespaced"
    } else {
        "Cluster"
    }
}

/// A response kind: group and version empty where they are the listing group version's, as
/// upstream (kubectl then reads the same `APIResource` as from the legacy document).
fn kind(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn resource(r: &ResourceType) -> Value {
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, k, verbs) = subresource_info(r, sub);
            json!({"subresource": sub, "responseKind": kind(g, v, k), "verbs": verbs})
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": kind("", "", r.kind),
        "scope": scope(r.namespaced),
        "singularResource": r.singular,
        "verbs": ALL_VERBS,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        e["subresources"] = json!(subresources);
    }
    e
}

/// One group's entry, its versions in order of preference.
fn group(types: Types<'_>, name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| group_version(types, name, v))
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !name.is_empty() {
        metadata["name"] = json!(name);
    }
    json!({"metadata": metadata, "versions": versions})
}

fn group_version(types: Types<'_>, name: &str, version: &str) -> Value {
    let mut resources: Vec<Value> = types
        .iter()
        .filter(|r| r.group == name && r.version == version)
        .map(|r| resource(r))
        .collect();
    for r in unstored::all().filter(|r| r.group == name && r.version == version) {
        resources.push(json!({
            "resource": r.plural,
            "responseKind": kind("", "", r.kind),
            "scope": scope(r.namespaced),
            "singularResource": r.singular,
            "verbs": r.verbs,
        }));
    }
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn list(format: Format, items: Vec<Value>) -> Value {
    json!({
        "kind": KIND,
        "apiVersion": format!("{GROUP}/{}", format.version()),
        "metadata": {},
        "items": items,
    })
}

/// `/api`'s aggregated document: the core group alone.
pub fn core(types: Types<'_>, format: Format) -> Value {
    list(format, vec![group(types, "", &["v1"])])
}

/// `/apis`'s aggregated document: every named group.
pub fn groups_document(types: Types<'_>, format: Format) -> Value {
    let items = groups(types)
        .iter()
        .map(|(g, v)| group(types, g, v))
        .collect();
    list(format, items)
}

/// An aggregated document with the media type it answers as.
pub fn respond(format: Format, doc: &Value) -> http::Response<ResponseBody> {
    let mut response = body::json(StatusCode::OK, doc);
    if let Ok(v) = HeaderValue::from_str(&format.media_type()) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn client_go_accept_header_picks_v2_and_plain_json_picks_legacy() {
        let client_go = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wanted(&accept(client_go)), Some(Format::V2));
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wanted(&accept(beta)), Some(Format::V2Beta1));
        let protobuf_first = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList";
        assert_eq!(wanted(&accept(protobuf_first)), Some(Format::V2));
        assert_eq!(wanted(&accept("application/json, */*")), None);
        assert_eq!(wanted(&HeaderMap::new()), None);
        assert_eq!(
            wanted(&accept(
                "application/json;g=apidiscovery.k8s.io;v=v1;as=APIGroupDiscoveryList"
            )),
            None
        );
    }

    #[test]
    fn apps_group_lists_deployments_with_scale_and_short_names() {
        let doc = groups_document(crate::resources::RESOURCES, Format::V2);
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let apps = doc["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["metadata"]["name"] == "apps")
            .expect("apps is listed");
        let v1 = &apps["versions"][0];
        assert_eq!(v1["version"], "v1");
        let deployments = v1["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "deployments")
            .expect("deployments");
        assert_eq!(deployments["scope"], "Namespaced");
        assert_eq!(deployments["singularResource"], "deployment");
        assert_eq!(deployments["shortNames"], json!(["deploy"]));
        assert_eq!(deployments["categories"], json!(["all"]));
        assert_eq!(deployments["responseKind"]["kind"], "Deployment");
        assert!(deployments["verbs"]
            .as_array()
            .expect("verbs")
            .contains(&json!("watch")));
        let scale = deployments["subresources"]
            .as_array()
            .expect("subresources")
            .iter()
            .find(|s| s["subresource"] == "scale")
            .expect("scale");
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
        assert!(doc["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["metadata"]["name"] != ""));
    }

    #[test]
    fn core_lists_pods_and_reviews_are_create_only() {
        let doc = core(crate::resources::RESOURCES, Format::V2Beta1);
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let resources = &doc["items"][0]["versions"][0]["resources"];
        let pods = resources
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "pods")
            .expect("pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        let nodes = resources
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "nodes")
            .expect("nodes");
        assert_eq!(nodes["scope"], "Cluster");
        let groups = groups_document(crate::resources::RESOURCES, Format::V2);
        let authz = groups["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["metadata"]["name"] == "authorization.k8s.io")
            .expect("authorization is listed");
        for r in authz["versions"][0]["resources"]
            .as_array()
            .expect("resources")
        {
            assert_eq!(r["verbs"], json!(["create"]));
        }
    }

    #[test]
    fn the_answer_names_its_media_type() {
        let r = respond(Format::V2, &core(crate::resources::RESOURCES, Format::V2));
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
    }
}
