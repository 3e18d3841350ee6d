//! Per-kind knowledge: the served resource types, their validation, defaulting, status
//! strategy, table columns and strategic-merge keys. Generic code (store, API) never matches
//! on kind names; it asks the [`ResourceType`] found here.

pub mod bootstrap_token;
pub mod certificatesigningrequest;
pub mod configmap;
pub mod controllerrevision;
pub mod crd;
pub mod cron;
pub mod cronjob;
pub mod custom;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod field_error;
pub mod job;
pub mod job_spec;
pub mod lease;
pub mod meta;
pub mod namespace;
pub mod node;
pub mod patch_schema;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod pod_template;
pub mod poddisruptionbudget;
pub mod printers;
pub mod quantity;
pub mod rbac;
pub mod replicaset;
pub mod replicationcontroller;
pub mod scale;
pub mod seconds;
pub mod secret;
pub mod selector;
pub mod service;
pub mod service_alloc;
pub mod service_type_change;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;
pub mod tolerations;
pub mod typed;
pub mod validation;
pub mod workload_strategy;

use serde_json::Value;

pub use field_error::{FieldError, FieldErrorKind};
pub use patch_schema::PatchSchema;
pub use printers::Printer;

/// Kind-specific behaviour the API applies to every write, as upstream's `rest.RESTCreateStrategy`
/// and `rest.RESTUpdateStrategy` do. All methods work on the object's JSON form.
pub trait Strategy: Send + Sync {
    /// Normalises the object through its typed form: drops fields the kind does not have and
    /// returns their paths (for `fieldValidation=Strict|Warn`), or an error when a field has
    /// the wrong type (a 400 `BadRequest` upstream).
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError>;
    /// Fills defaults, as upstream's `SetDefaults_*` functions do.
    fn default(&self, _obj: &mut Value) {}
    /// Resets what a client may not set on create (e.g. a pod's status).
    fn prepare_for_create(&self, _obj: &mut Value) {}
    /// On an update of the main resource: keeps what only the status subresource may change.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}
    /// On an update of the `status` subresource: keeps everything but the status.
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        match (merged.as_object_mut(), status) {
            (Some(m), Some(s)) => {
                m.insert("status".into(), s);
            }
            (Some(m), None) => {
                m.remove("status");
            }
            _ => {}
        }
        // metadata (labels, annotations, resourceVersion) comes from the request as upstream
        if let (Some(m), Some(meta)) = (merged.as_object_mut(), new.get("metadata")) {
            m.insert("metadata".into(), meta.clone());
        }
        *new = merged;
    }
    /// On an update of the `ephemeralcontainers` subresource (pods): keeps everything but
    /// what that subresource may change. Kinds without it never see such an update (the
    /// subresource is not served), so the default keeps the object as it was.
    fn prepare_for_ephemeral_containers_update(&self, new: &mut Value, old: &Value) {
        *new = old.clone();
    }
    /// On an update of the `approval` subresource (certificate signing requests): keeps
    /// everything but the approval decision. Kinds without it never see such an update.
    fn prepare_for_approval_update(&self, new: &mut Value, old: &Value) {
        *new = old.clone();
    }
    /// Validates an update through the `ephemeralcontainers` subresource.
    fn validate_ephemeral_containers_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        self.validate_update(new, old)
    }
    /// Validates a new object, its metadata included (name rules differ by kind).
    fn validate(&self, obj: &Value) -> Vec<FieldError>;
    /// Validates an update, including immutable fields and metadata.
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate(new)
    }
    /// Kind-specific field selector labels (beyond `metadata.name` and
    /// `metadata.namespace`), e.g. `spec.nodeName` for pods. `None` when unsupported.
    fn field_label(&self, _obj: &Value, _field: &str) -> Option<String> {
        None
    }
    /// The members `field_label(_, field)` reads, as dotted paths from the top of the object
    /// (`spec.nodeName`): selectors parse only these from each stored object. The default
    /// is the field's whole top-level member; a kind narrows it where a selector is hot.
    fn field_label_reads(&self, field: &str) -> Vec<String> {
        vec![field.split('.').next().unwrap_or(field).to_string()]
    }
    /// Whether a change outside metadata and status bumps `metadata.generation`.
    fn tracks_generation(&self) -> bool {
        false
    }
    /// Grace period for a delete, as upstream's `CheckGracefulDelete`: 0 removes the object
    /// at once; more sets `deletionTimestamp` and leaves removal to whoever runs it.
    fn grace_period(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }
    /// Whether kind-specific finalization still holds a deleted object (a namespace's
    /// `spec.finalizers`, cleared by the namespace controller through `finalize`).
    fn holds_deletion(&self, _obj: &Value) -> bool {
        false
    }
    /// Marks an object whose deletion has begun (a namespace turns `Terminating`).
    fn mark_deleting(&self, _obj: &mut Value) {}
    /// On an update of the `finalize` subresource: keeps everything but what finalizing may
    /// change.
    fn prepare_for_finalize(&self, new: &mut Value, old: &Value) {
        self.prepare_for_update(new, old)
    }
    /// Whether new objects take values from a pool shared by all objects of the kind.
    fn allocates(&self) -> bool {
        false
    }
    /// Takes a new object's pooled values (a Service's clusterIP and node ports), given every
    /// existing object of the kind; runs under a lock so no two creates take the same value.
    fn allocate(&self, _obj: &mut Value, _existing: &[&Value]) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
    /// The node whose kubelet must finish a graceful delete (a pod's `spec.nodeName`).
    fn node_of(&self, _obj: &Value) -> Option<String> {
        None
    }
    /// For kinds with a `scale` subresource: the label selector of the pods the object
    /// counts, as a Scale's `status.selector` text.
    fn scale_selector(&self, _obj: &Value) -> Option<String> {
        None
    }
    /// For kinds with a `scale` subresource: JSON pointers to the desired and the observed
    /// replica counts.
    fn replicas_pointers(&self) -> (&str, &str) {
        ("/spec/replicas", "/status/replicas")
    }
    /// Whether strategic merge patches apply (custom resources take JSON and merge patches
    /// only, as upstream).
    fn accepts_strategic_merge(&self) -> bool {
        true
    }
    /// A custom resource's `openAPIV3Schema`, as its CRD gives it (built-in kinds are
    /// described by the build's schemas).
    fn custom_schema(&self) -> Option<&Value> {
        None
    }
    /// The `apiVersion` objects are stored at, for kinds served at several versions (custom
    /// resources: their CRD's storage version).
    fn stored_api_version(&self) -> Option<&str> {
        None
    }
}

/// One served resource type: its names, scope and behaviour.
pub struct ResourceType {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// Served version.
    pub version: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `pods`.
    pub plural: &'static str,
    /// Singular name, e.g. `pod`.
    pub singular: &'static str,
    /// Short names kubectl accepts, e.g. `po`.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Kept in memory only (leases, events): node heartbeats must not wear SD cards.
    pub ephemeral: bool,
    /// Subresources served besides the object itself (`status`, `binding`).
    pub subresources: &'static [&'static str],
    /// Discovery categories (`all`).
    pub categories: &'static [&'static str],
    /// Write behaviour.
    pub strategy: &'static dyn Strategy,
    /// Table columns for `kubectl get`.
    pub printer: &'static Printer,
    /// List merge keys for strategic merge patch.
    pub patch_schema: &'static PatchSchema,
}

impl ResourceType {
    /// `apiVersion` as written in objects: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The Kubernetes minor version whose API Bramble serves.
pub const KUBE_MINOR: &str = "32";

/// Every served resource type.
pub static RESOURCES: &[&ResourceType] = &[
    &pod::RESOURCE,
    &node::RESOURCE,
    &namespace::RESOURCE,
    &event::RESOURCE,
    &configmap::RESOURCE,
    &secret::RESOURCE,
    &serviceaccount::RESOURCE,
    &service::RESOURCE,
    &endpoints::RESOURCE,
    &endpointslice::RESOURCE,
    &persistentvolume::RESOURCE,
    &persistentvolumeclaim::RESOURCE,
    &storageclass::RESOURCE,
    &lease::RESOURCE,
    &controllerrevision::RESOURCE,
    &daemonset::RESOURCE,
    &deployment::RESOURCE,
    &replicaset::RESOURCE,
    &statefulset::RESOURCE,
    &replicationcontroller::RESOURCE,
    &job::RESOURCE,
    &cronjob::RESOURCE,
    &poddisruptionbudget::RESOURCE,
    &rbac::cluster_role::RESOURCE,
    &rbac::cluster_role_binding::RESOURCE,
    &rbac::role::RESOURCE,
    &rbac::role_binding::RESOURCE,
    &crd::RESOURCE,
    &certificatesigningrequest::RESOURCE,
];

/// Finds a served type by group, version and plural name.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a served type by `apiVersion` and `kind`, as written in an object.
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// This board's architecture as Kubernetes names it (`amd64`, `arm64`, `arm`).
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}
