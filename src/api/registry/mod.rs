//! The API's operations on objects, independent of HTTP: what kube-apiserver's generic
//! registry does between decoding a request and touching storage (defaulting, validation,
//! system metadata, preconditions, graceful deletion, finalizers). The HTTP handlers and the
//! in-process client both call this, so every writer takes one code path.

mod apply;
mod binding;
mod create;
mod delete;
pub mod eviction;
pub mod list;
mod scale;
mod served_types;
pub mod token_request;
mod update;
pub mod watch;

use std::sync::Arc;

use serde_json::Value;

use super::admission::AdmissionConfig;
use super::auth::service_account::ServiceAccountTokens;
use super::auth::Identity;
use super::field_manager;
use super::status::ApiError;
use super::type_meta::{check_type_meta, Expected};
use crate::resources::{self, FieldError, ResourceType};
use crate::store::{Object, ObjectKey, Store};

pub use crate::client::options::{
    DeleteOptions, ListOptions, ListResult, Preconditions, Subresource, WatchEvent, WatchOptions,
};
pub use crate::resources::meta;
pub use apply::invalid_options;
pub use scale::ScaleAnswer;
pub use watch::WatchStream;

/// How to treat fields the kind does not have (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (the default, as upstream).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are: Ignore, Warn, Strict"
            ))),
        }
    }
}

/// Options shared by create, update and patch.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Unknown-field handling.
    pub field_validation: FieldValidation,
    /// `dryRun=All`: validate and answer without storing.
    pub dry_run: bool,
    /// Who asks, for admission that depends on the requester (`None`: the server itself).
    pub requester: Option<Identity>,
    /// The manager the write's fields are recorded under (`fieldManager`, else from the
    /// user agent); empty for the server's own writes, recorded as [`SERVER_MANAGER`].
    pub field_manager: String,
    /// `force=true` on an apply: take fields other managers hold.
    pub force: bool,
    /// The write is an apply whose managed fields are already worked out.
    pub(crate) applied: bool,
}

/// The manager of the server's own writes (controllers, kubelet in the server process).
pub const SERVER_MANAGER: &str = "bramble";

impl WriteOptions {
    /// The manager this write is recorded under.
    pub fn manager(&self) -> &str {
        if self.field_manager.is_empty() {
            SERVER_MANAGER
        } else {
            &self.field_manager
        }
    }
}

/// The object a write answers with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// As stored.
    Stored(Arc<Object>),
    /// As it would be stored (a dry run).
    Unstored(Value),
}

impl Answer {
    /// The object, parsed.
    pub fn into_value(self) -> Value {
        match self {
            Answer::Stored(o) => o.value(),
            Answer::Unstored(v) => v,
        }
    }

    /// The object's name, read without parsing the rest of it.
    pub fn name(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Named {
            metadata: NameOnly,
        }
        #[derive(serde::Deserialize)]
        struct NameOnly {
            #[serde(default)]
            name: String,
        }
        match self {
            Answer::Stored(o) => o
                .read::<Named>()
                .map(|n| n.metadata.name)
                .unwrap_or_default(),
            Answer::Unstored(v) => meta::name_of(v).to_string(),
        }
    }
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored.
    pub object: Answer,
    /// Whether it was created (201) rather than changed (200).
    pub created: bool,
    /// `Warning` headers for the client.
    pub warnings: Vec<String>,
}

/// The API's view of the store. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    /// Serialises creates of kinds that take values from a shared pool (Service IPs).
    allocation: Arc<tokio::sync::Mutex<()>>,
    /// Settings of the admission plugins.
    admission: Arc<AdmissionConfig>,
    /// Issues service account tokens (`serviceaccounts/token`); none in stores opened
    /// without the cluster's keys.
    tokens: Option<Arc<ServiceAccountTokens>>,
    /// The types established CustomResourceDefinitions serve, by CRD revision.
    served: served_types::Shared,
}

impl Registry {
    /// Serves objects from `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            allocation: Arc::default(),
            admission: Arc::default(),
            tokens: None,
            served: Arc::default(),
        }
    }

    /// The same registry issuing service account tokens with `tokens`.
    pub fn with_tokens(mut self, tokens: Arc<ServiceAccountTokens>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The service account token issuer, if this registry has one.
    pub fn tokens(&self) -> Option<&Arc<ServiceAccountTokens>> {
        self.tokens.as_ref()
    }

    /// The same registry with these admission settings.
    pub fn with_admission(mut self, admission: AdmissionConfig) -> Self {
        self.admission = Arc::new(admission);
        self
    }

    /// What the field manager needs to know of a write of `rt` through `subresource`.
    pub(crate) fn field_request<'a>(
        &self,
        rt: &ResourceType,
        opts: &'a WriteOptions,
        subresource: &'a str,
        now: &'a str,
    ) -> field_manager::Request<'a> {
        field_manager::Request {
            manager: opts.manager(),
            api_version: rt.api_version(),
            subresource,
            has_status: rt.subresources.contains(&"status"),
            schema: rt.patch_schema,
            now,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.store
            .get(&key(rt, namespace, name))
            .map(|o| o.value())
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Reads one object if present.
    pub(crate) fn lookup(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Object>> {
        self.store.get(&key(rt, namespace, name))
    }

    /// Refuses writes into a namespace that does not exist or is being deleted, as
    /// upstream's NamespaceLifecycle admission does.
    fn check_namespace(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns_rt = &resources::namespace::RESOURCE;
        match self.lookup(ns_rt, "", namespace) {
            None => Err(ApiError::not_found(ns_rt, namespace)),
            Some(ns) if meta::deleting(&ns) => Err(ApiError::forbidden_on(
                rt,
                name,
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The store key of an object.
pub fn key(rt: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
    let ns = if rt.namespaced { namespace } else { "" };
    ObjectKey::new(rt.group, rt.plural, ns, name)
}

/// Normalises an incoming object: checks `apiVersion`/`kind` and namespace against the
/// request, and decodes it through the kind's type (unknown fields per `fieldValidation`).
fn decode_incoming(
    rt: &ResourceType,
    namespace: &str,
    mut obj: Value,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let api_version = rt.api_version();
    check_type_meta(
        &mut obj,
        Expected {
            api_version: &api_version,
            // (a patched object of another served version still names the storage version)
            also_accepted: rt.strategy.stored_api_version(),
            kind: rt.kind,
        },
    )?;
    if rt.namespaced {
        let meta = meta::meta_mut(&mut obj);
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), Value::String(namespace.into()));
            }
        }
    } else {
        meta::meta_mut(&mut obj).remove("namespace");
    }
    let decoded = rt
        .strategy
        .decode(obj)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unknown: Vec<String> = decoded
        .unknown_fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match validation {
        FieldValidation::Strict if !unknown.is_empty() => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => Ok((decoded.object, unknown)),
        _ => Ok((decoded.object, Vec::new())),
    }
}

/// The kind's validation of a new object (metadata included: name rules differ by kind).
fn validate_new(rt: &ResourceType, obj: &Value) -> Vec<FieldError> {
    rt.strategy.validate(obj)
}

/// Validation of an update against the stored object (immutable metadata included).
fn validate_change(rt: &ResourceType, new: &Value, old: &Value) -> Vec<FieldError> {
    rt.strategy.validate_update(new, old)
}
