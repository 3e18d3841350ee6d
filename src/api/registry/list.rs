//! List with label and field selectors and `limit`/`continue` paging. Pages come from the
//! in-memory published state; a continue token stays valid while nothing under the listed
//! prefix has changed, otherwise the client gets upstream's 410 with a fresh token, exactly
//! as when etcd has compacted the revision a token points at. Selectors read only the
//! members they test from each stored object's JSON ([`Filter::matches_object`]), and only
//! the objects on the page are parsed.

use crate::client::options::{ListOptions, ListResult};
use base64::engine::general_purpose::STANDARD as B64;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{key, meta, Registry};
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::{KeyPrefix, Object, Paths};

/// One page of a list, as stored.
#[derive(Debug, Clone)]
pub struct ObjectPage {
    /// Matching objects.
    pub items: Vec<Arc<Object>>,
    /// The revision the list is consistent at.
    pub resource_version: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Matching objects after this page.
    pub remaining: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

/// Selectors compiled against one kind.
pub struct Filter {
    rt: &'static ResourceType,
    labels: LabelSelector,
    fields: FieldSelector,
    /// The members the selectors read.
    reads: Paths,
}

impl Filter {
    /// Parses the selectors; unsupported field labels are refused as upstream does.
    pub fn new(rt: &'static ResourceType, label: &str, field: &str) -> Result<Self, ApiError> {
        let labels =
            LabelSelector::parse(label).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields =
            FieldSelector::parse(field).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let empty = json!({});
        fields
            .check_supported(|f| {
                matches!(f, "metadata.name" | "metadata.namespace")
                    || rt.strategy.field_label(&empty, f).is_some()
            })
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut reads = Paths::new();
        if !labels.is_empty() {
            reads.add("metadata.labels");
        }
        for r in fields.requirements() {
            match r.field.as_str() {
                f @ ("metadata.name" | "metadata.namespace") => reads.add(f),
                f => rt
                    .strategy
                    .field_label_reads(f)
                    .iter()
                    .for_each(|p| reads.add(p)),
            }
        }
        Ok(Self {
            rt,
            labels,
            fields,
            reads,
        })
    }

    /// Whether the stored object matches both selectors, reading only what they test.
    pub fn matches_object(&self, obj: &Object) -> bool {
        self.is_empty() || self.matches(&obj.pruned(&self.reads))
    }

    /// Whether `obj` matches both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        let empty = serde_json::Map::new();
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        self.labels.matches(labels)
            && self.fields.matches(|f| match f {
                "metadata.name" => Some(meta::name_of(obj).to_string()),
                "metadata.namespace" => {
                    Some(meta::meta_str(obj, "namespace").unwrap_or("").to_string())
                }
                other => self.rt.strategy.field_label(obj, other),
            })
    }

    /// Whether no selector is set.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// The key range a list or watch covers.
pub fn prefix(rt: &ResourceType, namespace: Option<&str>) -> KeyPrefix {
    match namespace.filter(|_| rt.namespaced) {
        Some(ns) => KeyPrefix::namespace(rt.group, rt.plural, ns),
        None => KeyPrefix::resource(rt.group, rt.plural),
    }
}

impl Registry {
    /// Lists objects of `rt` (in `namespace`, or in all namespaces when `None`).
    pub fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        let page = self.list_objects(rt, namespace, opts)?;
        Ok(ListResult {
            items: page.items.iter().map(|o| o.value()).collect(),
            resource_version: page.resource_version,
            continue_token: page.continue_token,
            remaining: page.remaining,
        })
    }

    /// [`Registry::list`] with the objects as stored, for responses that copy their JSON.
    pub fn list_objects(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ObjectPage, ApiError> {
        let filter = Filter::new(rt, &opts.label_selector, &opts.field_selector)?;
        let prefix = prefix(rt, namespace);
        let token = opts
            .continue_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let start = token.as_ref().map_or("", |t| t.start.as_str());
        // Keys sort as `object_key` builds them, so a page starts at its token's key. The
        // objects are taken before the token is checked against later changes, as a
        // snapshot the check covers.
        let (objects, revision) = self.store.list_from(&prefix, start);
        let rv = match &token {
            Some(t) => {
                let changed = self.store.changed_since(&prefix, t.rv).unwrap_or(true);
                if changed {
                    let mut e = ApiError::new(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter, or use the continue token \
                         in this response to retrieve the remainder of the results. Continuing with the \
                         provided token results in an inconsistent list - objects that were created, modified, \
                         or deleted between the time the first chunk was returned and now may show up in the list.",
                    );
                    e.details.continue_token = Some(encode_token(revision, &t.start));
                    return Err(e);
                }
                t.rv
            }
            None => revision,
        };
        let mut items = Vec::new();
        let mut matching = objects.into_iter().filter(|o| filter.matches_object(o));
        for o in matching.by_ref() {
            items.push(o);
            if opts.limit > 0 && items.len() == opts.limit {
                break;
            }
        }
        let rest = matching.count();
        let (continue_token, remaining) = if rest > 0 {
            let last = items
                .last()
                .map(|o| object_key(rt, &o.pruned(&name_paths())))
                .unwrap_or_default();
            (Some(encode_token(rv, &format!("{last}\u{0}"))), Some(rest))
        } else {
            (None, None)
        };
        Ok(ObjectPage {
            items,
            resource_version: rv,
            continue_token,
            remaining,
        })
    }
}

/// What [`object_key`] reads.
fn name_paths() -> Paths {
    let mut p = Paths::new();
    p.add("metadata.name");
    p.add("metadata.namespace");
    p
}

fn object_key(rt: &ResourceType, obj: &Value) -> String {
    key(
        rt,
        meta::meta_str(obj, "namespace").unwrap_or(""),
        meta::name_of(obj),
    )
    .as_str()
    .to_string()
}

fn encode_token(rv: u64, start: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.into(),
    };
    B64.encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_token(token: &str) -> Result<ContinueToken, ApiError> {
    B64.decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice::<ContinueToken>(&b).ok())
        .filter(|t| t.v == "meta.k8s.io/v1")
        .ok_or_else(|| ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))
}
