//! The OpenAPI v3 documents kubectl reads before `apply`: per group version, the object paths
//! with their `x-kubernetes-group-version-kind` and the `fieldValidation` parameter, which
//! tells kubectl that the server validates fields itself (server-side field validation), so
//! `kubectl apply` works without `--validate=false`. Strategic merge patch is deliberately not
//! advertised here: kubectl then computes apply patches from its built-in types, whose merge
//! keys [`crate::resources::patch_schema`] mirrors.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{json, Map, Value};

use super::discovery::KUBE_MINOR;
use crate::resources::{ResourceType, RESOURCES};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn operation(r: &ResourceType, action: &str, with_body: bool) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {"200": {"description": "OK"}},
    });
    if with_body {
        let schema = json!({"schema": {"type": "object"}});
        let content = if action == "patch" {
            json!({"application/json-patch+json": schema, "application/merge-patch+json": schema})
        } else {
            json!({"application/json": schema, "application/yaml": schema})
        };
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

/// The document for one group version, or `None` if not served.
pub fn group_version_doc(group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let base = if r.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                r.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), r.plural)
        };
        paths.insert(
            base.clone(),
            json!({"post": operation(r, "post", true), "get": operation(r, "list", false)}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(r, "get", false),
                "put": operation(r, "put", true),
                "patch": operation(r, "patch", true),
                "delete": operation(r, "delete", false),
            }),
        );
        if r.subresources.contains(&"scale") {
            let scale = |action: &str, with_body: bool| {
                let mut op = operation(r, action, with_body);
                op["operationId"] = json!(format!("{action}{}Scale", r.kind));
                op["x-kubernetes-group-version-kind"] =
                    json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
                op
            };
            paths.insert(
                format!("{base}/{{name}}/scale"),
                json!({"get": scale("get", false), "put": scale("put", true), "patch": scale("patch", true)}),
            );
        }
        if r.subresources.contains(&"status") {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({"get": operation(r, "get", false), "put": operation(r, "put", true), "patch": operation(r, "patch", true)}),
            );
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v3`: where each group version's document lives, with a content hash.
pub fn root() -> Value {
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter() {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    let mut paths = Map::new();
    for (g, v) in gvs {
        let Some(doc) = group_version_doc(g, v) else {
            continue;
        };
        let mut h = DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let path = gv_path(g, v);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_paths_name_their_kinds_and_scale() {
        let doc = group_version_doc("apps", "v1").expect("apps/v1 is served");
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
        let daemonsets = "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale";
        assert!(doc["paths"].get(daemonsets).is_none());
        assert!(root()["paths"].get("apis/apps/v1").is_some());
    }
}
