//! Strategic-merge-patch metadata per kind: which lists merge by which key.
//!
//! Upstream reads this from the `patchStrategy` / `patchMergeKey` struct tags of the Go API
//! types (`k8s.io/api/core/v1/types.go`, `k8s.io/apimachinery/pkg/apis/meta/v1/types.go`,
//! v1.32). kubectl computes client-side-apply patches from the same tags, so the server must
//! interpret them identically or `kubectl apply` would duplicate or drop list items.
//!
//! A [`PatchSchema`] is a static tree holding only the fields that carry a tag or lead to
//! one; every other field has the default strategy (objects merge key by key, lists are
//! replaced whole). Subtrees are shared: [`POD_SPEC`] serves Pods and every pod template.

/// How a strategic merge patch combines one field of the live object with the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStrategy {
    /// No tag: objects merge recursively, lists are replaced atomically.
    Default,
    /// `patchStrategy:"merge"`: lists merge item by item (by merge key, or as a set).
    Merge,
    /// `patchStrategy:"replace"`: the patch value replaces the object whole.
    Replace,
}

/// Patch metadata of one field of an object type.
#[derive(Debug)]
pub struct PatchField {
    /// The field's JSON name.
    pub name: &'static str,
    /// The strategy from the field's `patchStrategy` tag.
    pub strategy: PatchStrategy,
    /// The `patchMergeKey` tag; empty for lists of primitives and for non-lists.
    pub merge_key: &'static str,
    /// Whether the tag also lists `retainKeys` (kubectl then sends `$retainKeys`).
    pub retain_keys: bool,
    /// Schema of the field's object type, or of the list's items.
    pub schema: &'static PatchSchema,
}

/// Patch metadata for one object type: its fields that are, or contain, tagged fields.
#[derive(Debug)]
pub struct PatchSchema {
    /// The tagged fields and the fields leading to them; all others are untagged.
    pub fields: &'static [PatchField],
}

/// Metadata of a field that carries no tag and contains none.
static UNTAGGED_FIELD: PatchField = nested("", &LEAF);

impl PatchSchema {
    /// The metadata of `name`; untagged (default strategy, no nested tags) when not listed.
    pub fn field(&self, name: &str) -> &PatchField {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or(&UNTAGGED_FIELD)
    }
}

/// A field whose object type contains tagged fields.
const fn nested(name: &'static str, schema: &'static PatchSchema) -> PatchField {
    PatchField {
        name,
        strategy: PatchStrategy::Default,
        merge_key: "",
        retain_keys: false,
        schema,
    }
}

/// A list merged item by item, matching items by `merge_key`.
const fn keyed_list(
    name: &'static str,
    merge_key: &'static str,
    items: &'static PatchSchema,
) -> PatchField {
    PatchField {
        name,
        strategy: PatchStrategy::Merge,
        merge_key,
        retain_keys: false,
        schema: items,
    }
}

/// A keyed list whose tag is `merge,retainKeys`.
const fn keyed_list_retaining_keys(
    name: &'static str,
    merge_key: &'static str,
    items: &'static PatchSchema,
) -> PatchField {
    PatchField {
        retain_keys: true,
        ..keyed_list(name, merge_key, items)
    }
}

/// A list of primitives merged as a set (union), like `metadata.finalizers`.
const fn primitive_set(name: &'static str) -> PatchField {
    keyed_list(name, "", &LEAF)
}

/// A type with no tagged fields inside.
pub static LEAF: PatchSchema = PatchSchema { fields: &[] };

/// `ObjectMeta`, shared by every kind and by pod templates.
pub static OBJECT_META: PatchSchema = PatchSchema {
    fields: &[
        keyed_list("ownerReferences", "uid", &LEAF),
        primitive_set("finalizers"),
    ],
};

/// A kind whose own lists are all atomic: only `metadata` has merge lists (ConfigMap,
/// Secret, Event, StorageClass, Lease).
pub static NONE: PatchSchema = PatchSchema {
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `Container`, and `EphemeralContainer` (its inlined `EphemeralContainerCommon` has the
/// same tags).
pub static CONTAINER: PatchSchema = PatchSchema {
    fields: &[
        keyed_list("ports", "containerPort", &LEAF),
        keyed_list("env", "name", &LEAF),
        keyed_list("volumeMounts", "mountPath", &LEAF),
        keyed_list("volumeDevices", "devicePath", &LEAF),
    ],
};

/// `PersistentVolumeClaimTemplate` inside an ephemeral volume.
static PVC_TEMPLATE: PatchSchema = PatchSchema {
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `EphemeralVolumeSource`.
static EPHEMERAL_VOLUME_SOURCE: PatchSchema = PatchSchema {
    fields: &[nested("volumeClaimTemplate", &PVC_TEMPLATE)],
};

/// `Volume` (its `VolumeSource` is inlined).
pub static VOLUME: PatchSchema = PatchSchema {
    fields: &[nested("ephemeral", &EPHEMERAL_VOLUME_SOURCE)],
};

/// `PodSpec`, shared by Pods and pod templates (Deployments, ReplicaSets, DaemonSets).
pub static POD_SPEC: PatchSchema = PatchSchema {
    fields: &[
        keyed_list_retaining_keys("volumes", "name", &VOLUME),
        keyed_list("initContainers", "name", &CONTAINER),
        keyed_list("containers", "name", &CONTAINER),
        keyed_list("ephemeralContainers", "name", &CONTAINER),
        keyed_list("imagePullSecrets", "name", &LEAF),
        keyed_list("hostAliases", "ip", &LEAF),
        keyed_list("topologySpreadConstraints", "topologyKey", &LEAF),
        keyed_list("schedulingGates", "name", &LEAF),
        keyed_list_retaining_keys("resourceClaims", "name", &LEAF),
    ],
};

/// `PodStatus`. Its container status lists are atomic upstream, so their items' tags never
/// apply and are left out.
pub static POD_STATUS: PatchSchema = PatchSchema {
    fields: &[
        keyed_list("conditions", "type", &LEAF),
        keyed_list("hostIPs", "ip", &LEAF),
        keyed_list("podIPs", "ip", &LEAF),
        keyed_list_retaining_keys("resourceClaimStatuses", "name", &LEAF),
    ],
};

/// `PodTemplateSpec`: the `template` of workload controllers.
pub static POD_TEMPLATE_SPEC: PatchSchema = PatchSchema {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

/// `Pod`.
pub static POD: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

/// `NodeSpec`.
static NODE_SPEC: PatchSchema = PatchSchema {
    fields: &[primitive_set("podCIDRs")],
};

/// `NodeStatus`.
static NODE_STATUS: PatchSchema = PatchSchema {
    fields: &[
        keyed_list("conditions", "type", &LEAF),
        keyed_list("addresses", "type", &LEAF),
    ],
};

/// `Node`.
pub static NODE: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &NODE_SPEC),
        nested("status", &NODE_STATUS),
    ],
};

/// `ServiceSpec`.
static SERVICE_SPEC: PatchSchema = PatchSchema {
    fields: &[keyed_list("ports", "port", &LEAF)],
};

/// A status whose only tagged field is `conditions` keyed by `type` (Service, Namespace,
/// PersistentVolumeClaim).
static CONDITIONS_STATUS: PatchSchema = PatchSchema {
    fields: &[keyed_list("conditions", "type", &LEAF)],
};

/// `Service`.
pub static SERVICE: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &SERVICE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `Namespace` (its `spec.finalizers` is atomic, unlike `metadata.finalizers`).
pub static NAMESPACE: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `PersistentVolume`: no tagged field outside `metadata` in v1.32.
pub static PERSISTENT_VOLUME: PatchSchema = PatchSchema {
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `PersistentVolumeClaim`.
pub static PERSISTENT_VOLUME_CLAIM: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// A workload with a pod template (Deployment, ReplicaSet, DaemonSet, StatefulSet,
/// ReplicationController): the template's pod spec merges as a pod's does, and every one of
/// their status types keys `conditions` by `type`.
pub static WORKLOAD: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &WORKLOAD_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// The spec of a workload: only its `template` holds tagged fields.
static WORKLOAD_SPEC: PatchSchema = PatchSchema {
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

/// `Deployment`: a workload whose `spec.strategy` is tagged `retainKeys`, so kubectl clears
/// `rollingUpdate` when a file switches the strategy to `Recreate`.
pub static DEPLOYMENT: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &DEPLOYMENT_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static DEPLOYMENT_SPEC: PatchSchema = PatchSchema {
    fields: &[
        nested("template", &POD_TEMPLATE_SPEC),
        PatchField {
            retain_keys: true,
            ..nested("strategy", &LEAF)
        },
    ],
};

/// `ServiceAccount`: its `secrets` merge by name.
pub static SERVICE_ACCOUNT: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        keyed_list("secrets", "name", &LEAF),
    ],
};

/// `batch/v1` `JobSpec`: its pod template.
static JOB_SPEC: PatchSchema = PatchSchema {
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

/// `Job` (its status conditions merge by `type`).
pub static JOB: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &JOB_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `JobTemplateSpec`, a CronJob's `jobTemplate`.
static JOB_TEMPLATE_SPEC: PatchSchema = PatchSchema {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC)],
};

/// `CronJobSpec`.
static CRON_JOB_SPEC: PatchSchema = PatchSchema {
    fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

/// `CronJob` (its `status.active` is atomic).
pub static CRON_JOB: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &CRON_JOB_SPEC),
    ],
};

/// `policy/v1` `PodDisruptionBudgetSpec`: the selector is replaced whole
/// (`patchStrategy:"replace"`), never merged.
static POD_DISRUPTION_BUDGET_SPEC: PatchSchema = PatchSchema {
    fields: &[PatchField {
        name: "selector",
        strategy: PatchStrategy::Replace,
        merge_key: "",
        retain_keys: false,
        schema: &LEAF,
    }],
};

/// `PodDisruptionBudget` (its status conditions merge by `type`).
pub static POD_DISRUPTION_BUDGET: PatchSchema = PatchSchema {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_DISRUPTION_BUDGET_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_and_their_env_merge_by_name() {
        let containers = POD.field("spec").schema.field("containers");
        assert_eq!(containers.strategy, PatchStrategy::Merge);
        assert_eq!(containers.merge_key, "name");
        let env = containers.schema.field("env");
        assert_eq!(
            (env.strategy, env.merge_key),
            (PatchStrategy::Merge, "name")
        );
        let ports = containers.schema.field("ports");
        assert_eq!(ports.merge_key, "containerPort");
    }

    #[test]
    fn pod_templates_share_the_pod_spec() {
        let template_spec = POD_TEMPLATE_SPEC.field("spec").schema;
        assert!(std::ptr::eq(template_spec, POD.field("spec").schema));
    }

    #[test]
    fn workload_templates_merge_containers_by_name() {
        let containers = WORKLOAD
            .field("spec")
            .schema
            .field("template")
            .schema
            .field("spec")
            .schema
            .field("containers");
        assert_eq!(
            (containers.strategy, containers.merge_key),
            (PatchStrategy::Merge, "name")
        );
        let conditions = WORKLOAD.field("status").schema.field("conditions");
        assert_eq!(conditions.merge_key, "type");
    }

    #[test]
    fn deployment_strategy_retains_keys_and_account_secrets_merge_by_name() {
        let strategy = DEPLOYMENT.field("spec").schema.field("strategy");
        assert!(strategy.retain_keys);
        assert_eq!(strategy.strategy, PatchStrategy::Default);
        let secrets = SERVICE_ACCOUNT.field("secrets");
        assert_eq!(
            (secrets.strategy, secrets.merge_key),
            (PatchStrategy::Merge, "name")
        );
    }

    #[test]
    fn tolerations_and_unknown_fields_are_atomic() {
        let spec = POD.field("spec").schema;
        assert_eq!(spec.field("tolerations").strategy, PatchStrategy::Default);
        assert_eq!(spec.field("noSuchField").strategy, PatchStrategy::Default);
    }

    #[test]
    fn every_kind_merges_finalizers_as_a_set() {
        for kind in [&NONE, &POD, &NODE, &SERVICE, &NAMESPACE, &PERSISTENT_VOLUME] {
            let f = kind.field("metadata").schema.field("finalizers");
            assert_eq!((f.strategy, f.merge_key), (PatchStrategy::Merge, ""));
        }
        let volumes = POD_SPEC.field("volumes");
        assert!(volumes.retain_keys);
    }

    #[test]
    fn job_templates_share_the_pod_spec_and_pdb_selectors_are_replaced() {
        let job_pod = JOB
            .field("spec")
            .schema
            .field("template")
            .schema
            .field("spec");
        assert!(std::ptr::eq(job_pod.schema, &POD_SPEC));
        let cron_pod = CRON_JOB
            .field("spec")
            .schema
            .field("jobTemplate")
            .schema
            .field("spec");
        let cron_pod = cron_pod.schema.field("template").schema.field("spec");
        assert!(std::ptr::eq(cron_pod.schema, &POD_SPEC));
        let selector = POD_DISRUPTION_BUDGET.field("spec").schema.field("selector");
        assert_eq!(selector.strategy, PatchStrategy::Replace);
    }
}
