//! The PersistentVolume binder: upstream's PV controller (`syncClaim`/`syncVolume` in
//! kube-controller-manager) split by concept, plus the pvc- and pv-protection controllers
//! that remove the finalizers admission adds. Provisioning itself happens on the nodes
//! (docs/adr/004-node-local-storage.md); the binder only asks for it through annotations.

mod bind;
pub mod claims;
pub mod matching;
pub mod protection;
pub mod volumes;

/// Annotation on a claim: the binder finished binding it.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Annotation on a claim or volume: the binder (not the user) set the binding.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// Annotation on a volume: the provisioner that created it.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Annotation on a claim: which provisioner should create its volume.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta spelling of [`ANN_STORAGE_PROVISIONER`], still set upstream.
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// Annotation on a claim: the node that provisions its volume.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Annotation on a StorageClass marking it the default.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// Finalizer on claims, removed once no pod uses the claim.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Finalizer on volumes, removed once the volume is not Bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
/// The provisioners the kubelets implement.
pub const LOCAL_PROVISIONERS: [&str; 2] = ["bramble.io/local-path", "bramble.io/local-disk"];
/// The component name on the binder's events, as upstream.
pub const COMPONENT: &str = "persistentvolume-controller";

/// The Node annotation holding free bytes for a bramble provisioner.
pub fn free_bytes_annotation(provisioner: &str) -> Option<&'static str> {
    match provisioner {
        "bramble.io/local-path" => Some("storage.bramble.io/local-path-free-bytes"),
        "bramble.io/local-disk" => Some("storage.bramble.io/local-disk-free-bytes"),
        _ => None,
    }
}

/// Free bytes `node` reports for `provisioner` (`None`: it cannot provision that class).
pub fn node_free_bytes(node: &k8s_openapi::api::core::v1::Node, provisioner: &str) -> Option<i64> {
    let key = free_bytes_annotation(provisioner)?;
    node.metadata
        .annotations
        .as_ref()?
        .get(key)?
        .trim()
        .parse()
        .ok()
}
