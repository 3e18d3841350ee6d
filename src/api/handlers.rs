//! HTTP handlers for resource requests: translate a parsed request into a [`Registry`] call
//! and its result into the response kubectl expects (object, list, Table, watch stream or
//! `Status`). Plain JSON answers copy stored objects' JSON text as it is; YAML, Tables and
//! metadata parse it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::auth::Identity;
use super::body::{self, ResponseBody};
use super::negotiate::{self, Output};
use super::patch::PatchType;
use super::registry::eviction::Evicted;
use super::registry::watch::RawEvent;
use super::registry::{
    Answer, DeleteOptions, FieldValidation, ListOptions, Registry, ScaleAnswer, Subresource,
    WatchOptions, WriteOptions,
};
use super::request_body;
use super::request_info::ResourcePath;
use super::served_version;
use super::status::ApiError;
use super::stored_json;
use super::table::{self, IncludeObject};
use crate::resources::{self, ResourceType};
use crate::store::Paths;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a watch runs without `timeoutSeconds` (upstream's default minimum request timeout).
const MAX_WATCH: Duration = Duration::from_secs(1800);

/// One resource request, parsed.
pub struct ResourceRequest<'a> {
    /// Kubernetes verb.
    pub verb: &'static str,
    /// Coordinates.
    pub path: &'a ResourcePath,
    /// Decoded query parameters.
    pub query: &'a HashMap<String, String>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body (empty for reads).
    pub body: Bytes,
    /// Who asks (admission narrows a node's writes by the objects written).
    pub user: &'a Identity,
}

/// Serves one resource request.
pub async fn serve(
    registry: &Registry,
    shutdown: &CancellationToken,
    req: ResourceRequest<'_>,
) -> Response<ResponseBody> {
    match dispatch(registry, shutdown, req).await {
        Ok(r) => r,
        Err(e) => body::error(&e),
    }
}

/// A boolean query parameter as upstream converts one: absent, empty, `0` and `false` (any
/// case) are false, anything else true (the Python client sends `True`).
pub fn flag(query: &HashMap<String, String>, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
}

fn q<'a>(query: &'a HashMap<String, String>, key: &str) -> &'a str {
    query.get(key).map(String::as_str).unwrap_or("")
}

async fn dispatch(
    registry: &Registry,
    shutdown: &CancellationToken,
    req: ResourceRequest<'_>,
) -> Result<Response<ResponseBody>, ApiError> {
    let p = req.path;
    let rt = registry
        .resource_type(&p.group, &p.version, &p.resource)
        .ok_or_else(ApiError::path_not_found)?;
    if let Some(sub) = &p.subresource {
        if !rt.subresources.contains(&sub.as_str()) {
            return Err(ApiError::path_not_found());
        }
    }
    let namespace = if rt.namespaced {
        p.namespace.as_deref()
    } else {
        None
    };
    if rt.namespaced && p.name.is_some() && namespace.is_none() && req.verb != "create" {
        return Err(ApiError::path_not_found());
    }
    let accept = req
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let output =
        negotiate::output(accept).ok_or_else(|| ApiError::not_acceptable(accept.unwrap_or("")))?;
    let ns = namespace.unwrap_or("");
    let name = p.name.as_deref().unwrap_or("");
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let write = WriteOptions {
        field_validation: FieldValidation::parse(q(req.query, "fieldValidation"))?,
        dry_run: q(req.query, "dryRun") == "All",
        requester: Some(req.user.clone()),
        field_manager: field_manager_of(req.verb, req.query, req.headers, content_type)?,
        force: flag(req.query, "force"),
        ..Default::default()
    };
    match (req.verb, p.subresource.as_deref()) {
        (verb @ ("get" | "update" | "patch"), Some("scale")) => {
            let answer = match verb {
                "get" => ScaleAnswer {
                    scale: registry.get_scale(rt, ns, name)?,
                    warnings: Vec::new(),
                },
                "update" => {
                    let obj = request_body::decode(content_type, &req.body)?;
                    registry.update_scale(rt, ns, name, obj, &write).await?
                }
                _ => {
                    let pt = patch_type(content_type)?;
                    registry
                        .patch_scale(rt, ns, name, pt, &req.body, &write)
                        .await?
                }
            };
            Ok(respond_one(
                &resources::scale::RESOURCE,
                StatusCode::OK,
                &answer.scale,
                output,
                req.query,
                &answer.warnings,
            ))
        }
        ("get", _) => {
            let obj = registry
                .lookup(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            if output == Output::Json {
                let bytes = served_version::json(rt, obj.json()).as_bytes().to_vec();
                return Ok(body::full(StatusCode::OK, "application/json", bytes));
            }
            Ok(respond_one(
                rt,
                StatusCode::OK,
                &served_version::value(rt, obj.value()),
                output,
                req.query,
                &[],
            ))
        }
        ("list", None) => list(registry, rt, namespace, output, req.query),
        ("watch", None) => watch(registry, shutdown, rt, namespace, output, req.query),
        ("create", None) => {
            let obj = request_body::decode(content_type, &req.body)?;
            let w = registry.create(rt, ns, obj, &write).await?;
            Ok(respond_written(
                rt,
                StatusCode::CREATED,
                w.object,
                output,
                req.query,
                &w.warnings,
            ))
        }
        ("create", Some("binding")) => {
            let obj = request_body::decode(content_type, &req.body)?;
            let target = obj
                .pointer("/target/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            registry.bind_pod(ns, name, target, &write).await?;
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
            Ok(body::json(StatusCode::CREATED, &status))
        }
        ("create", Some("token")) => {
            let obj = request_body::decode(content_type, &req.body)?;
            let answered = registry.create_token(ns, name, obj, &write).await?;
            Ok(body::json(StatusCode::CREATED, &answered))
        }
        ("create", Some("eviction")) => {
            let obj = request_body::decode(content_type, &req.body)?;
            match registry.evict(ns, name, obj, &write).await? {
                Evicted::Deleted => {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
                    Ok(body::json(StatusCode::CREATED, &status))
                }
                Evicted::Refused(status) => {
                    Ok(body::json(StatusCode::INTERNAL_SERVER_ERROR, &status))
                }
            }
        }
        ("update", sub) => {
            let sub = subresource(sub)?;
            let obj = request_body::decode(content_type, &req.body)?;
            let w = registry.update(rt, ns, name, obj, sub, &write).await?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(respond_written(
                rt,
                code,
                w.object,
                output,
                req.query,
                &w.warnings,
            ))
        }
        ("patch", sub) => {
            let sub = subresource(sub)?;
            let patch_type = patch_type(content_type)?;
            if patch_type == PatchType::StrategicMerge && !rt.strategy.accepts_strategic_merge() {
                return Err(ApiError::unsupported_media_type(
                    content_type.unwrap_or(""),
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                ));
            }
            let w = match (patch_type, sub) {
                (PatchType::Apply, Subresource::Main) => {
                    registry.apply(rt, ns, name, &req.body, &write).await?
                }
                (PatchType::Apply, sub @ Subresource::Status) => {
                    registry
                        .apply_to(rt, ns, name, &req.body, sub, &write)
                        .await?
                }
                (PatchType::Apply, _) => return Err(ApiError::method_not_allowed()),
                _ => {
                    registry
                        .patch(rt, ns, name, patch_type, &req.body, sub, &write)
                        .await?
                }
            };
            Ok(respond_written(
                rt,
                StatusCode::OK,
                w.object,
                output,
                req.query,
                &w.warnings,
            ))
        }
        ("delete", None) => {
            let mut opts = delete_options(content_type, &req.body, req.query)?;
            opts.requester = Some(req.user.clone());
            let d = registry.delete(rt, ns, name, &opts).await?;
            let code = if d.gone {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok(respond_one(rt, code, &d.object, output, req.query, &[]))
        }
        ("deletecollection", None) => {
            let mut opts = delete_options(content_type, &req.body, req.query)?;
            opts.requester = Some(req.user.clone());
            let list_opts = ListOptions {
                label_selector: q(req.query, "labelSelector").into(),
                field_selector: q(req.query, "fieldSelector").into(),
                ..Default::default()
            };
            let listed = registry.list(rt, namespace, &list_opts)?;
            let mut items = Vec::new();
            for obj in listed.items {
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match registry.delete(rt, &ns, &name, &opts).await {
                    Ok(d) => items.push(d.object),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {}, "items": items});
            Ok(body::json(StatusCode::OK, &list))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The patch type a PATCH request's `Content-Type` names; 415 for any other.
fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    let ct = content_type.unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::unsupported_media_type(
            ct,
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ],
        )
    })
}

/// The manager a write is recorded under: `fieldManager`, else the user agent's first word,
/// checked as upstream's `ValidatePatchOptions`/`ValidateFieldManager` check them (an apply
/// must name one; `force` belongs to applies alone).
fn field_manager_of(
    verb: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    content_type: Option<&str>,
) -> Result<String, ApiError> {
    let options = match verb {
        "create" => "CreateOptions",
        "update" => "UpdateOptions",
        "patch" => "PatchOptions",
        _ => return Ok(String::new()),
    };
    let given = q(query, "fieldManager");
    let applying = verb == "patch"
        && content_type.and_then(PatchType::from_content_type) == Some(PatchType::Apply);
    let mut errs = Vec::new();
    if applying && given.is_empty() {
        errs.push(resources::FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    if !applying && query.contains_key("force") {
        errs.push(resources::FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if let Err(why) = crate::api::field_manager::validate_manager(given) {
        errs.push(resources::FieldError::invalid(
            "fieldManager",
            &json!(given),
            &why,
        ));
    }
    if !errs.is_empty() {
        return Err(super::registry::invalid_options(options, &errs));
    }
    if !given.is_empty() {
        return Ok(given.to_string());
    }
    let agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(crate::api::field_manager::manager_from_user_agent(agent))
}

fn subresource(sub: Option<&str>) -> Result<Subresource, ApiError> {
    match sub {
        None => Ok(Subresource::Main),
        Some("finalize") => Ok(Subresource::Finalize),
        Some("status") => Ok(Subresource::Status),
        Some("ephemeralcontainers") => Ok(Subresource::EphemeralContainers),
        Some("approval") => Ok(Subresource::Approval),
        Some(_) => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(
    content_type: Option<&str>,
    bytes: &[u8],
    query: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let mut opts: DeleteOptions = if bytes.is_empty() {
        DeleteOptions::default()
    } else {
        serde_json::from_value(request_body::decode(content_type, bytes)?)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(g) = query.get("gracePeriodSeconds") {
        opts.grace_period_seconds = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
        );
    }
    if let Some(p) = query.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    if let Some(o) = query.get("orphanDependents") {
        opts.orphan_dependents = Some(flag(query, "orphanDependents") && o != "0");
    }
    if q(query, "dryRun") == "All" {
        opts.dry_run = vec!["All".into()];
    }
    Ok(opts)
}

fn with_warnings(mut r: Response<ResponseBody>, warnings: &[String]) -> Response<ResponseBody> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append("Warning", v);
        }
    }
    r
}

fn encode(value: &Value, output: Output) -> (Vec<u8>, &'static str) {
    match output {
        Output::Yaml => (
            serde_yaml_ng::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
            "application/yaml",
        ),
        _ => (
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        ),
    }
}

/// [`respond_one`] for a write's answer: a stored object's JSON is copied as it is.
fn respond_written(
    rt: &ResourceType,
    code: StatusCode,
    answer: Answer,
    output: Output,
    query: &HashMap<String, String>,
    warnings: &[String],
) -> Response<ResponseBody> {
    match (answer, output) {
        (Answer::Stored(o), Output::Json) => {
            let bytes = served_version::json(rt, o.json()).as_bytes().to_vec();
            with_warnings(body::full(code, "application/json", bytes), warnings)
        }
        (answer, output) => {
            let obj = served_version::value(rt, answer.into_value());
            respond_one(rt, code, &obj, output, query, warnings)
        }
    }
}

fn respond_one(
    rt: &ResourceType,
    code: StatusCode,
    obj: &Value,
    output: Output,
    query: &HashMap<String, String>,
    warnings: &[String],
) -> Response<ResponseBody> {
    let value = match output {
        Output::Table(v) => {
            let include = IncludeObject::parse(q(query, "includeObject"));
            let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
            table::table(rt, [obj.clone()], v, include, meta, true)
        }
        Output::Metadata(v) => table::partial_metadata(obj, v),
        _ => obj.clone(),
    };
    let (bytes, ct) = encode(&value, output);
    with_warnings(body::full(code, ct, bytes), warnings)
}

fn list(
    registry: &Registry,
    rt: &'static ResourceType,
    namespace: Option<&str>,
    output: Output,
    query: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, ApiError> {
    let opts = ListOptions {
        label_selector: q(query, "labelSelector").into(),
        field_selector: q(query, "fieldSelector").into(),
        limit: q(query, "limit").parse().unwrap_or(0),
        continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
    };
    let page = registry.list_objects(rt, namespace, &opts)?;
    let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = page.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    let kind = format!("{}List", rt.kind);
    // Items are written one at a time, never all parsed at once (but for YAML).
    let bytes = match output {
        Output::Json => {
            let size = page.items.iter().map(|o| o.size + 1).sum::<usize>();
            let items = page
                .items
                .iter()
                .map(|o| served_version::json(rt, o.json()));
            stored_json::list(&rt.api_version(), &kind, &meta, size, items)
        }
        Output::Table(v) => {
            let include = IncludeObject::parse(q(query, "includeObject"));
            let items = page
                .items
                .iter()
                .map(|o| served_version::value(rt, o.value()));
            table::table_json(rt, items, v, include, &meta)
        }
        Output::Metadata(v) => {
            let mut metadata = Paths::new();
            metadata.add("metadata");
            let items = page
                .items
                .iter()
                .map(|o| table::partial_metadata(&o.pruned(&metadata), v).to_string());
            let api_version = format!("meta.k8s.io/{v}");
            stored_json::list(&api_version, "PartialObjectMetadataList", &meta, 0, items)
        }
        Output::Yaml => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| served_version::value(rt, o.value()))
                .collect();
            let list = json!({"kind": kind, "apiVersion": rt.api_version(), "metadata": meta, "items": items});
            let (bytes, ct) = encode(&list, output);
            return Ok(body::full(StatusCode::OK, ct, bytes));
        }
    };
    Ok(body::full(StatusCode::OK, "application/json", bytes))
}

fn watch(
    registry: &Registry,
    shutdown: &CancellationToken,
    rt: &'static ResourceType,
    namespace: Option<&str>,
    output: Output,
    query: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, ApiError> {
    let opts = WatchOptions {
        label_selector: q(query, "labelSelector").into(),
        field_selector: q(query, "fieldSelector").into(),
        resource_version: q(query, "resourceVersion").into(),
        send_initial_events: flag(query, "sendInitialEvents"),
    };
    let mut stream = registry.watch(rt, namespace, &opts)?;
    let bookmarks = flag(query, "allowWatchBookmarks");
    let timeout = q(query, "timeoutSeconds")
        .parse::<u64>()
        .map(Duration::from_secs)
        .unwrap_or(MAX_WATCH)
        .min(MAX_WATCH);
    let include = IncludeObject::parse(q(query, "includeObject"));
    let (tx, body) = body::ChannelBody::channel(16);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            let event = tokio::select! {
                e = stream.next_raw() => match e { Some(e) => e, None => break },
                _ = tick.tick(), if bookmarks => RawEvent::Bookmark(stream.bookmark_object()),
                _ = &mut deadline => break,
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
            };
            let line = match (event, output) {
                (RawEvent::Bookmark(_), _) if !bookmarks => continue,
                (RawEvent::Bookmark(b), _) => stored_json::watch_line("BOOKMARK", &b.to_string()),
                (RawEvent::Change(kind, o), Output::Json | Output::Yaml) => {
                    stored_json::watch_line(kind, &served_version::json(rt, o.json()))
                }
                (RawEvent::Change(kind, o), Output::Table(v)) => {
                    let obj = served_version::value(rt, o.value());
                    let table = table::table(rt, [obj], v, include, json!({}), true);
                    stored_json::watch_line(kind, &table.to_string())
                }
                (RawEvent::Change(kind, o), Output::Metadata(v)) => stored_json::watch_line(
                    kind,
                    &table::partial_metadata(&o.value(), v).to_string(),
                ),
            };
            if tx.send(Bytes::from(line)).await.is_err() {
                break;
            }
        }
    });
    Ok(body::streaming(StatusCode::OK, "application/json", body))
}
