//! Parses a request path and method into what is being asked, as upstream's
//! `RequestInfoFactory` (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) does: the
//! verb (get, list, watch, create, update, patch, delete, deletecollection) and the resource
//! coordinates, or a non-resource path.

/// Coordinates of a resource request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A resource or a collection.
    Resource(ResourcePath),
    /// `/api/v1` or `/apis/g/v`: the resources of one group version.
    GroupVersion {
        /// Group (`""` for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/apis/g`: one group's versions.
    Group(String),
    /// Anything else: `/api`, `/apis`, `/version`, `/livez`, `/openapi/v3`, ...
    NonResource(String),
}

/// The parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// Kubernetes verb (for non-resource paths: the lower-case HTTP method).
    pub verb: &'static str,
    /// What is addressed.
    pub target: Target,
}

/// Parses `method` and `path` (without the query); `watch` is the `watch` query parameter.
pub fn parse(method: &http::Method, path: &str, watch: bool) -> RequestInfo {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let non_resource = || RequestInfo {
        verb: http_verb(method),
        target: Target::NonResource(path.to_string()),
    };
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (String::new(), version.to_string(), rest),
        ["apis", group] => {
            return RequestInfo {
                verb: http_verb(method),
                target: Target::Group(group.to_string()),
            }
        }
        ["apis", group, version, rest @ ..] => (group.to_string(), version.to_string(), rest),
        _ => return non_resource(),
    };
    if rest.is_empty() {
        return RequestInfo {
            verb: http_verb(method),
            target: Target::GroupVersion { group, version },
        };
    }
    let mut rp = ResourcePath {
        group,
        version,
        ..Default::default()
    };
    let rest: &[&str] = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && !matches!(tail[0], "status" | "finalize") =>
        {
            rp.namespace = Some(ns.to_string());
            tail
        }
        _ => rest,
    };
    match rest {
        [resource] => rp.resource = resource.to_string(),
        [resource, name] => {
            rp.resource = resource.to_string();
            rp.name = Some(name.to_string());
        }
        [resource, name, sub] => {
            rp.resource = resource.to_string();
            rp.name = Some(name.to_string());
            rp.subresource = Some(sub.to_string());
        }
        // a proxy subresource carries the path it relays after it (`nodes/pi/proxy/metrics`)
        [resource, name, "proxy", ..] => {
            rp.resource = resource.to_string();
            rp.name = Some(name.to_string());
            rp.subresource = Some("proxy".to_string());
        }
        _ => return non_resource(),
    }
    // A namespace's own path names the namespace as both object and scope (upstream does).
    if rp.resource == "namespaces" && rp.namespace.is_none() {
        rp.namespace.clone_from(&rp.name);
    }
    let verb = match (method.as_str(), rp.name.is_some()) {
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) if watch => "watch",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    };
    RequestInfo {
        verb,
        target: Target::Resource(rp),
    }
}

fn http_verb(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" | "HEAD" => "get",
        "POST" => "post",
        "PUT" => "put",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn res(method: Method, path: &str, watch: bool) -> (&'static str, ResourcePath) {
        match parse(&method, path, watch) {
            RequestInfo {
                verb,
                target: Target::Resource(rp),
            } => (verb, rp),
            other => panic!("not a resource request: {other:?}"),
        }
    }

    #[test]
    fn namespaced_object_and_subresource() {
        let (verb, rp) = res(
            Method::PUT,
            "/api/v1/namespaces/default/pods/web/status",
            false,
        );
        assert_eq!(verb, "update");
        assert_eq!(rp.namespace.as_deref(), Some("default"));
        assert_eq!(rp.resource, "pods");
        assert_eq!(rp.name.as_deref(), Some("web"));
        assert_eq!(rp.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn collections_list_watch_and_deletecollection() {
        assert_eq!(res(Method::GET, "/api/v1/pods", false).0, "list");
        assert_eq!(
            res(Method::GET, "/api/v1/namespaces/a/pods", true).0,
            "watch"
        );
        assert_eq!(
            res(
                Method::DELETE,
                "/apis/storage.k8s.io/v1/storageclasses",
                false
            )
            .0,
            "deletecollection"
        );
    }

    #[test]
    fn a_proxy_subresource_keeps_its_coordinates_whatever_path_follows() {
        let (verb, rp) = res(Method::GET, "/api/v1/nodes/pi/proxy/stats/summary", false);
        assert_eq!(verb, "get");
        assert_eq!(
            (
                rp.resource.as_str(),
                rp.name.as_deref(),
                rp.subresource.as_deref()
            ),
            ("nodes", Some("pi"), Some("proxy"))
        );
    }

    #[test]
    fn namespace_object_paths() {
        let (verb, rp) = res(Method::GET, "/api/v1/namespaces/kube-system", false);
        assert_eq!(
            (verb, rp.resource.as_str(), rp.name.as_deref()),
            ("get", "namespaces", Some("kube-system"))
        );
        let (_, rp) = res(Method::PUT, "/api/v1/namespaces/x/finalize", false);
        assert_eq!(
            (rp.name.as_deref(), rp.subresource.as_deref()),
            (Some("x"), Some("finalize"))
        );
    }

    #[test]
    fn discovery_and_non_resource_paths() {
        assert_eq!(
            parse(&Method::GET, "/apis/storage.k8s.io", false).target,
            Target::Group("storage.k8s.io".into())
        );
        assert_eq!(
            parse(&Method::GET, "/api/v1", false).target,
            Target::GroupVersion {
                group: String::new(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse(&Method::GET, "/version", false).target,
            Target::NonResource("/version".into())
        );
        assert_eq!(
            parse(&Method::GET, "/api", false).target,
            Target::NonResource("/api".into())
        );
    }
}
