//! Discovery: the legacy documents (`/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`),
//! the aggregated ones a client asks `/api` and `/apis` for by media type ([`aggregated`]),
//! and `/version`, all built from the served resource types.

pub mod aggregated;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::body::{self, ResponseBody};

use super::unstored;
use crate::resources::{ResourceType, RESOURCES};

pub use crate::resources::KUBE_MINOR;

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": format!("v1.{KUBE_MINOR}.0+bramble.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{}", crate::resources::node_arch()),
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The served types: what [`Registry::resource_types`](crate::api::registry::Registry)
/// returns, built-in kinds first.
pub type Types<'a> = &'a [&'static ResourceType];

/// Every named group with its versions, the preferred one first (upstream's version
/// priority: GA before beta before alpha, higher numbers first).
pub(crate) fn groups(types: Types<'_>) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut gs: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    let stored = types.iter().map(|r| (r.group, r.version));
    let reviews = unstored::all().map(|r| (r.group, r.version));
    for (g, v) in stored.chain(reviews).filter(|(g, _)| !g.is_empty()) {
        match gs.iter_mut().find(|(name, _)| *name == g) {
            Some((_, vs)) if !vs.contains(&v) => vs.push(v),
            Some(_) => {}
            None => gs.push((g, vec![v])),
        }
    }
    for (_, vs) in &mut gs {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    gs
}

/// Upstream's version priority as a sortable key: `v2` > `v1` > `v1beta2` > `v1beta1` >
/// `v1alpha1` > anything not of that form.
pub(crate) fn version_priority(v: &str) -> (u8, u64, u64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let Ok(major) = rest[..digits].parse::<u64>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(m) = tail.strip_prefix("beta") {
        (2, m.parse().unwrap_or(0))
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (1, m.parse().unwrap_or(0))
    } else {
        return (0, 0, 0);
    };
    (stage, major, minor)
}

fn group(name: &str, versions: &[&str]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = gvs.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": gvs, "preferredVersion": preferred})
}

/// `/apis`.
pub fn group_list(types: Types<'_>) -> Value {
    let groups: Vec<Value> = groups(types).iter().map(|(g, v)| group(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, if served.
pub fn group_doc(types: Types<'_>, name: &str) -> Option<Value> {
    let (g, v) = groups(types).into_iter().find(|(g, _)| *g == name)?;
    let mut doc = group(g, &v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// Whether `group/version` is served.
pub fn serves(types: Types<'_>, group: &str, version: &str) -> bool {
    types
        .iter()
        .any(|r| r.group == group && r.version == version)
        || unstored::all().any(|r| r.group == group && r.version == version)
}

pub(crate) const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_entry(r: &ResourceType) -> Value {
    let mut e = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": ALL_VERBS,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    e
}

/// What a subresource answers and allows: `(group, version, kind, verbs)`, the group and
/// version empty when they are the parent's.
pub(crate) fn subresource_info(
    r: &ResourceType,
    sub: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    match sub {
        "binding" => ("", "", "Binding", &["create"]),
        "finalize" => ("", "", r.kind, &["update"]),
        "log" => ("", "", r.kind, &["get"]),
        // relays GETs to the node's kubelet (`api/node_proxy.rs`)
        "proxy" => ("", "", "NodeProxyOptions", &["get"]),
        "exec" => ("", "", "PodExecOptions", &["create", "get"]),
        "attach" => ("", "", "PodAttachOptions", &["create", "get"]),
        // kubectl drain finds the Eviction's group version here (`CheckEvictionSupport`).
        "eviction" => ("policy", "v1", "Eviction", &["create"]),
        "token" => ("authentication.k8s.io", "v1", "TokenRequest", &["create"]),
        // A scale is an `autoscaling/v1` Scale whatever the parent's group; kubectl's scale
        // client reads the kind's group and version from here.
        "scale" => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        _ => ("", "", r.kind, &["get", "patch", "update"]),
    }
}

fn subresource_entry(r: &ResourceType, sub: &str) -> Value {
    let (group, version, kind, verbs) = subresource_info(r, sub);
    let mut e = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
    if !group.is_empty() {
        e["group"] = json!(group);
        e["version"] = json!(version);
    }
    e
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub fn resource_list(types: Types<'_>, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in types
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(resource_entry(r));
        for sub in r.subresources {
            resources.push(subresource_entry(r, sub));
        }
    }
    for r in unstored::all().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs}));
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// A discovery answer: `Vary: Accept`, since the same path answers two formats.
fn varying(mut response: http::Response<ResponseBody>) -> http::Response<ResponseBody> {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// `/api`: the aggregated document when the client asks for one, else the legacy one.
pub fn serve_core(headers: &HeaderMap, server_address: &str) -> http::Response<ResponseBody> {
    varying(match aggregated::wanted(headers) {
        Some(format) => aggregated::respond(format, &aggregated::core(RESOURCES, format)),
        None => body::json(StatusCode::OK, &core_versions(server_address)),
    })
}

/// `/apis`: the aggregated document when the client asks for one, else the legacy one.
pub fn serve_groups(types: Types<'_>, headers: &HeaderMap) -> http::Response<ResponseBody> {
    varying(match aggregated::wanted(headers) {
        Some(format) => aggregated::respond(format, &aggregated::groups_document(types, format)),
        None => body::json(StatusCode::OK, &group_list(types)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_apis_answer_the_format_asked_for_and_vary_on_accept() {
        let mut aggregated = HeaderMap::new();
        aggregated.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
        );
        for r in [
            serve_groups(RESOURCES, &aggregated),
            serve_core(&aggregated, "127.0.0.1:6443"),
        ] {
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            );
            assert_eq!(r.headers()[header::VARY], "Accept");
        }
        for r in [
            serve_groups(RESOURCES, &HeaderMap::new()),
            serve_core(&HeaderMap::new(), "127.0.0.1:6443"),
        ] {
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(r.headers()[header::VARY], "Accept");
        }
    }
}
