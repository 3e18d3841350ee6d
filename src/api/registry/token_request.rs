//! The `serviceaccounts/token` subresource (upstream's `TokenREST`): issues a bound service
//! account token for a `TokenRequest`.
//!
//! The request is defaulted (an hour's lifetime, the API server's audiences) and validated
//! as upstream does; the object it binds the token to (a pod, secret or node) must exist,
//! with the uid given if one is; a token bound to a pod also names the pod's node. As
//! upstream's `--service-account-extend-token-expiration`, a token asked for 3607 s (the
//! lifetime the server gives pods' projected tokens) lives a year but says when it should
//! have been renewed, so clients that read the file once keep working.
//! A node may only ask for tokens bound to a pod of its own (NodeRestriction).

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{Registry, WriteOptions};
use crate::api::auth::service_account::{Grant, ObjectRef};
use crate::api::status::ApiError;
use crate::api::type_meta::{check_type_meta, Expected};
use crate::resources::meta::str_at_pointer;
use crate::resources::{node, pod, secret, serviceaccount, FieldError, ResourceType};

/// API group of `TokenRequest`.
const GROUP: &str = "authentication.k8s.io";
/// Upstream's default `spec.expirationSeconds`.
const DEFAULT_LIFETIME: i64 = 60 * 60;
/// Shortest lifetime a token may be asked for.
const MIN_LIFETIME: i64 = 10 * 60;
/// Longest lifetime a token may be asked for (2^32 s).
const MAX_LIFETIME: i64 = 1 << 32;
/// The lifetime the server writes into pods' projected token volumes.
pub const PROJECTED_LIFETIME: i64 = 3607;
/// The life a [`PROJECTED_LIFETIME`] token is actually given.
const EXTENDED_LIFETIME: i64 = 365 * 24 * 60 * 60;

/// The object a token is bound to, found.
struct Bound {
    pod: Option<ObjectRef>,
    secret: Option<ObjectRef>,
    node: Option<ObjectRef>,
}

impl Registry {
    /// Issues a token for service account `namespace/name` as `request` (a `TokenRequest`)
    /// asks, answering the request with its defaults and `status` filled in.
    pub async fn create_token(
        &self,
        namespace: &str,
        name: &str,
        request: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let Some(tokens) = self.tokens.clone() else {
            return Err(ApiError::path_not_found());
        };
        let mut request = check_envelope(request, namespace, name)?;
        let account = self
            .lookup(&serviceaccount::RESOURCE, namespace, name)
            .ok_or_else(|| ApiError::not_found(&serviceaccount::RESOURCE, name))?
            .value();
        let spec = request["spec"].as_object_mut().ok_or_else(|| {
            ApiError::bad_request("the body of the request must be a TokenRequest object")
        })?;
        let lifetime = match spec.get("expirationSeconds") {
            None | Some(Value::Null) => DEFAULT_LIFETIME,
            Some(v) => v.as_i64().ok_or_else(|| {
                ApiError::bad_request("spec.expirationSeconds must be an integer")
            })?,
        };
        spec.insert("expirationSeconds".into(), json!(lifetime));
        validate_lifetime(lifetime, name)?;
        let mut audiences: Vec<String> = match spec.get("audiences") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::bad_request("spec.audiences must be strings"))?,
            _ => Vec::new(),
        };
        if audiences.is_empty() {
            audiences = tokens.api_audiences().to_vec();
            spec.insert("audiences".into(), json!(audiences));
        }
        let bound_ref = spec.get("boundObjectRef").cloned().unwrap_or(Value::Null);
        if let Some(node) = opts.requester.as_ref().and_then(|r| r.node_name()) {
            self.admit_node_token(node, namespace, name, &bound_ref)?;
        }
        let bound = self.bound_object(namespace, name, &bound_ref)?;
        let api_audiences = audiences == tokens.api_audiences();
        let (lifetime_given, warn_after) =
            if bound.pod.is_some() && lifetime == PROJECTED_LIFETIME && api_audiences {
                (EXTENDED_LIFETIME, Some(PROJECTED_LIFETIME))
            } else {
                (lifetime, None)
            };
        let grant = Grant {
            namespace: namespace.to_string(),
            service_account: object_ref(&account),
            audiences,
            lifetime: lifetime_given,
            warn_after,
            pod: bound.pod,
            secret: bound.secret,
            node: bound.node,
        };
        let now = Utc::now();
        let token = tokens
            .issue(&grant, now)
            .map_err(|e| ApiError::internal(format!("issuing a token: {e}")))?;
        let expires = now + chrono::Duration::seconds(lifetime);
        request["status"] = json!({
            "token": token,
            "expirationTimestamp": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
        let meta = &mut request["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(namespace);
        meta["creationTimestamp"] = json!(now.to_rfc3339_opts(SecondsFormat::Secs, true));
        Ok(request)
    }

    /// The pod, secret or node `reference` names, checked as upstream's `TokenREST.Create`.
    fn bound_object(
        &self,
        namespace: &str,
        account: &str,
        reference: &Value,
    ) -> Result<Bound, ApiError> {
        let mut bound = Bound {
            pod: None,
            secret: None,
            node: None,
        };
        if reference.is_null() {
            return Ok(bound);
        }
        let api_version = str_at_pointer(reference, "/apiVersion");
        let kind = str_at_pointer(reference, "/kind");
        let name = str_at_pointer(reference, "/name");
        let rt: &'static ResourceType = match (api_version, kind) {
            ("v1", "Pod") => &pod::RESOURCE,
            ("v1", "Secret") => &secret::RESOURCE,
            ("v1", "Node") => &node::RESOURCE,
            _ => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                let gvk = if group.is_empty() {
                    format!("/{version}, Kind={kind}")
                } else {
                    format!("{group}/{version}, Kind={kind}")
                };
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {gvk}"
                )));
            }
        };
        let ns = if rt.namespaced { namespace } else { "" };
        let obj = self
            .lookup(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?
            .value();
        let found = object_ref(&obj);
        let wanted_uid = str_at_pointer(reference, "/uid");
        if !wanted_uid.is_empty() && wanted_uid != found.uid {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!("the UID in the bound object reference ({wanted_uid}) does not match the UID in record. The object might have been deleted and then recreated"),
            ));
        }
        match rt.kind {
            "Pod" => {
                let runs_as = str_at_pointer(&obj, "/spec/serviceAccountName");
                if runs_as != account {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
                    )));
                }
                let node_name = str_at_pointer(&obj, "/spec/nodeName");
                if !node_name.is_empty() {
                    // the node may not be registered (yet): the token then names it without a uid
                    let uid = self
                        .lookup(&node::RESOURCE, "", node_name)
                        .map(|n| object_ref(&n.value()).uid)
                        .unwrap_or_default();
                    bound.node = Some(ObjectRef {
                        name: node_name.to_string(),
                        uid,
                    });
                }
                bound.pod = Some(found);
            }
            "Secret" => bound.secret = Some(found),
            _ => bound.node = Some(found),
        }
        Ok(bound)
    }

    /// Upstream NodeRestriction's `admitServiceAccount`: a node's token must be bound, by
    /// uid, to a pod scheduled on that node.
    fn admit_node_token(
        &self,
        node: &str,
        namespace: &str,
        account: &str,
        reference: &Value,
    ) -> Result<(), ApiError> {
        let sa = &serviceaccount::RESOURCE;
        let forbid = |why: &str| Err(ApiError::forbidden_on(sa, account, why));
        let name = str_at_pointer(reference, "/name");
        if str_at_pointer(reference, "/apiVersion") != "v1"
            || str_at_pointer(reference, "/kind") != "Pod"
            || name.is_empty()
        {
            return forbid("node requested token not bound to a pod");
        }
        let uid = str_at_pointer(reference, "/uid");
        if uid.is_empty() {
            return forbid("node requested token with a pod binding without a uid");
        }
        let pod = self
            .lookup(&pod::RESOURCE, namespace, name)
            .ok_or_else(|| ApiError::not_found(&pod::RESOURCE, name))?
            .value();
        if object_ref(&pod).uid != uid {
            return forbid(&format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"));
        }
        if str_at_pointer(&pod, "/spec/nodeName") != node {
            return forbid("node requested token bound to a pod scheduled on a different node");
        }
        Ok(())
    }
}

/// Checks the request's kind and its name and namespace against the path's.
fn check_envelope(mut request: Value, namespace: &str, name: &str) -> Result<Value, ApiError> {
    let api_version = format!("{GROUP}/v1");
    let map = check_type_meta(&mut request, Expected::new(&api_version, "TokenRequest"))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let mut errs = Vec::new();
    for (field, want, what) in [
        ("name", name, "name"),
        ("namespace", namespace, "namespace"),
    ] {
        let given = meta.get(field).and_then(Value::as_str).unwrap_or("");
        if !given.is_empty() && given != want {
            errs.push(FieldError::invalid(
                format!("metadata.{field}"),
                &json!(given),
                &format!("must match the service account {what} if specified"),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid_kind(GROUP, "TokenRequest", name, &errs));
    }
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if spec.is_null() {
        *spec = json!({});
    }
    Ok(request)
}

/// Upstream's `ValidateTokenRequest`.
fn validate_lifetime(lifetime: i64, name: &str) -> Result<(), ApiError> {
    let field = "spec.expirationSeconds";
    let why = if lifetime < MIN_LIFETIME {
        "may not specify a duration less than 10 minutes"
    } else if lifetime > MAX_LIFETIME {
        "may not specify a duration larger than 2^32 seconds"
    } else {
        return Ok(());
    };
    Err(ApiError::invalid_kind(
        GROUP,
        "TokenRequest",
        name,
        &[FieldError::invalid(field, &json!(lifetime), why)],
    ))
}

fn object_ref(obj: &Value) -> ObjectRef {
    ObjectRef {
        name: str_at_pointer(obj, "/metadata/name").to_string(),
        uid: str_at_pointer(obj, "/metadata/uid").to_string(),
    }
}

#[cfg(test)]
mod tests;
