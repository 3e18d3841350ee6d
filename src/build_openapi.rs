//! Build-time generation of the OpenAPI schemas the API server serves: every served kind, its
//! list, the review kinds and the subresource kinds, and every type they reference, described
//! by k8s-openapi's `schemars` implementations under upstream's definition names
//! (`io.k8s.api.core.v1.Pod`). Each kind and list carries its
//! `x-kubernetes-group-version-kind` from k8s-openapi's `Resource` constants.
//!
//! The output (`$OUT_DIR/openapi_schemas.json.gz`) is one JSON object, definition name →
//! schema, references written as OpenAPI v3 `#/components/schemas/…`; `src/api/openapi/`
//! embeds it and adds the strategic-merge extensions and the paths at run time.

use std::io::Write;
use std::path::Path;

use k8s_openapi::api::{apps, authentication, authorization, autoscaling, batch, coordination};
use k8s_openapi::api::{certificates, core, discovery, policy, rbac, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::Resource;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// Where definitions live in an OpenAPI v3 document.
const REF_PREFIX: &str = "#/components/schemas/";

/// Adds `T`'s schema (and, through the generator, all it references) with its kind's
/// group, version and kind.
fn kind<T: JsonSchema + Resource>(gen: &mut SchemaGenerator, gvks: &mut Vec<(String, Value)>) {
    gen.subschema_for::<T>();
    gvks.push((T::schema_name(), gvk::<T>(T::KIND)));
}

fn gvk<T: Resource>(kind: &str) -> Value {
    json!([{"group": T::GROUP, "version": T::VERSION, "kind": kind}])
}

/// Adds `T` and `TList`, the list upstream describes beside every listable kind.
fn listed<T: JsonSchema + Resource>(
    gen: &mut SchemaGenerator,
    gvks: &mut Vec<(String, Value)>,
    lists: &mut Vec<(String, Value)>,
) {
    kind::<T>(gen, gvks);
    gen.subschema_for::<meta::ListMeta>();
    let item = T::schema_name();
    let list_name = format!("{item}List");
    let list_kind = format!("{}List", T::KIND);
    let plural = T::KIND;
    lists.push((
        list_name,
        json!({
            "description": format!("{list_kind} is a list of {plural} objects."),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"},
                "items": {"description": format!("List of {plural} objects."), "type": "array", "items": {"$ref": format!("{REF_PREFIX}{item}")}},
                "kind": {"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"},
                "metadata": {"description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")},
            },
            "x-kubernetes-group-version-kind": gvk::<T>(&list_kind),
        }),
    ));
}

/// The definitions, name → schema.
fn definitions() -> Map<String, Value> {
    let mut settings = SchemaSettings::openapi3();
    settings.definitions_path = REF_PREFIX.to_string();
    let mut gen = SchemaGenerator::new(settings);
    let (mut gvks, mut lists) = (Vec::new(), Vec::new());
    let (g, k, l) = (&mut gen, &mut gvks, &mut lists);
    listed::<core::v1::Pod>(g, k, l);
    listed::<core::v1::Node>(g, k, l);
    listed::<core::v1::Namespace>(g, k, l);
    listed::<core::v1::Event>(g, k, l);
    listed::<core::v1::ConfigMap>(g, k, l);
    listed::<core::v1::Secret>(g, k, l);
    listed::<core::v1::ServiceAccount>(g, k, l);
    listed::<core::v1::Service>(g, k, l);
    listed::<core::v1::Endpoints>(g, k, l);
    listed::<discovery::v1::EndpointSlice>(g, k, l);
    listed::<core::v1::PersistentVolume>(g, k, l);
    listed::<core::v1::PersistentVolumeClaim>(g, k, l);
    listed::<storage::v1::StorageClass>(g, k, l);
    listed::<coordination::v1::Lease>(g, k, l);
    listed::<apps::v1::ControllerRevision>(g, k, l);
    listed::<apps::v1::DaemonSet>(g, k, l);
    listed::<apps::v1::Deployment>(g, k, l);
    listed::<apps::v1::ReplicaSet>(g, k, l);
    listed::<apps::v1::StatefulSet>(g, k, l);
    listed::<core::v1::ReplicationController>(g, k, l);
    listed::<batch::v1::Job>(g, k, l);
    listed::<batch::v1::CronJob>(g, k, l);
    listed::<policy::v1::PodDisruptionBudget>(g, k, l);
    listed::<rbac::v1::ClusterRole>(g, k, l);
    listed::<rbac::v1::ClusterRoleBinding>(g, k, l);
    listed::<rbac::v1::Role>(g, k, l);
    listed::<rbac::v1::RoleBinding>(g, k, l);
    listed::<apiextensions::CustomResourceDefinition>(g, k, l);
    listed::<certificates::v1::CertificateSigningRequest>(g, k, l);
    // review kinds, created and answered, never listed
    kind::<authentication::v1::SelfSubjectReview>(g, k);
    kind::<authentication::v1::TokenReview>(g, k);
    kind::<authorization::v1::LocalSubjectAccessReview>(g, k);
    kind::<authorization::v1::SelfSubjectAccessReview>(g, k);
    kind::<authorization::v1::SelfSubjectRulesReview>(g, k);
    kind::<authorization::v1::SubjectAccessReview>(g, k);
    // what subresources take and answer
    kind::<autoscaling::v1::Scale>(g, k);
    kind::<core::v1::Binding>(g, k);
    kind::<policy::v1::Eviction>(g, k);
    kind::<authentication::v1::TokenRequest>(g, k);
    gen.subschema_for::<meta::Status>();
    gen.subschema_for::<meta::DeleteOptions>();

    let mut defs = Map::new();
    for (name, schema) in gen.take_definitions() {
        let value = serde_json::to_value(schema).unwrap_or(Value::Null);
        defs.insert(name, value);
    }
    for (name, gvk) in gvks {
        if let Some(obj) = defs.get_mut(&name).and_then(Value::as_object_mut) {
            obj.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    for (name, schema) in lists {
        defs.insert(name, schema);
    }
    defs
}

/// Writes the compressed definitions to `out_dir`.
pub fn generate(out_dir: &Path) -> std::io::Result<()> {
    let text = serde_json::to_vec(&Value::Object(definitions()))?;
    let file = std::fs::File::create(out_dir.join("openapi_schemas.json.gz"))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(&text)?;
    gz.finish()?;
    Ok(())
}
