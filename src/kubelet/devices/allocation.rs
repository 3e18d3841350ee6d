//! Which pod holds which host device, as the kubelet's device manager keeps it: a pod is
//! admitted only when every container's device requests can be met from the devices present
//! and free, and it then holds them until it is removed or finished, so two pods never get
//! the same device. Each device is one unit of its resource; a container asking for `n`
//! units of `bramble.io/X` gets `n` of the devices declared under that name.
//!
//! As upstream's `devicesToAllocate`, init containers run before the others, so the devices
//! an init container got are handed on to the next container that asks for that resource;
//! a restartable init container (a sidecar) keeps its own, as the app containers do.
//! Resources the node does not declare are left to the scheduler (upstream's admission
//! drops extended resources the node does not have).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::declaration::DeviceDeclaration;
use crate::resources::quantity::Quantity;

/// The `reason` of a pod rejected because its devices cannot be given
/// (upstream's `admission.ErrorReasonUnexpected`).
pub const UNEXPECTED_ADMISSION_ERROR: &str = "UnexpectedAdmissionError";

/// Why a pod's devices cannot be allocated; displayed as upstream's admission message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// Fewer of the resource's devices are free than the container asks for.
    #[error("Allocate failed due to requested number of devices unavailable for {resource}. Requested: {requested}, Available: {available}, which is unexpected")]
    Unavailable {
        /// The resource name.
        resource: String,
        /// Devices still needed after those handed on from init containers.
        requested: usize,
        /// Devices present and free.
        available: usize,
    },
    /// None of the resource's devices exists on the host.
    #[error("Allocate failed due to no healthy devices present; cannot allocate unhealthy devices {0}, which is unexpected")]
    NonePresent(String),
}

/// The devices of one pod, per container name.
type PodDevices = BTreeMap<String, Vec<PathBuf>>;

/// The node's declared devices and which pod holds which.
#[derive(Debug, Default)]
pub struct DeviceAllocator {
    declared: Vec<DeviceDeclaration>,
    /// Pod uid to its containers' devices.
    held: Mutex<BTreeMap<String, PodDevices>>,
}

impl DeviceAllocator {
    /// An allocator for `declared`; a path declared twice keeps its first declaration.
    pub fn new(declared: Vec<DeviceDeclaration>) -> Self {
        let mut seen = BTreeSet::new();
        let declared = declared
            .into_iter()
            .filter(|d| {
                let first = seen.insert(d.path.clone());
                if !first {
                    tracing::warn!(device = %d.path.display(), resource = %d.resource, "device declared twice; the first declaration holds");
                }
                first
            })
            .collect();
        Self {
            declared,
            held: Mutex::default(),
        }
    }

    /// The declarations, first ones first.
    pub fn declared(&self) -> &[DeviceDeclaration] {
        &self.declared
    }

    /// Gives pod `uid` the devices its containers ask for, or refuses it. A pod that holds
    /// its devices already keeps them (admission after a kubelet restart, or twice).
    pub fn admit(&self, uid: &str, pod: &Pod) -> Result<(), AllocationError> {
        let mut held = self.lock();
        if held.contains_key(uid) {
            return Ok(());
        }
        let in_use: BTreeSet<&Path> = held
            .values()
            .flat_map(|p| p.values().flatten())
            .map(PathBuf::as_path)
            .collect();
        let mut free: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for d in &self.declared {
            let devices = free.entry(d.resource.as_str()).or_default();
            if d.is_present() && !in_use.contains(d.path.as_path()) {
                devices.push(&d.path);
            }
        }
        let present = |resource: &str| {
            self.declared
                .iter()
                .any(|d| d.resource == resource && d.is_present())
        };
        let spec = pod.spec.as_ref();
        let inits = spec
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or(&[]);
        let apps = spec.map(|s| s.containers.as_slice()).unwrap_or(&[]);
        let mut reusable: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
        let mut given = PodDevices::new();
        for (c, init) in inits
            .iter()
            .map(|c| (c, true))
            .chain(apps.iter().map(|c| (c, false)))
        {
            let sidecar = init && c.restart_policy.as_deref() == Some("Always");
            let mut got: Vec<&Path> = Vec::new();
            for (resource, wanted) in container_wants(c) {
                let Some(pool) = free.get_mut(resource.as_str()) else {
                    continue; // not a device of this node
                };
                if !present(&resource) {
                    return Err(AllocationError::NonePresent(resource));
                }
                let reuse = reusable.entry(resource.clone()).or_default();
                let from_init = reuse.len().min(wanted);
                let mut mine: Vec<&Path> = reuse.drain(..from_init).collect();
                let needed = wanted - from_init;
                if pool.len() < needed {
                    return Err(AllocationError::Unavailable {
                        resource,
                        requested: needed,
                        available: pool.len(),
                    });
                }
                mine.extend(pool.drain(..needed));
                if init && !sidecar {
                    // handed on to the next container asking for the resource
                    reuse.extend(mine.iter().copied());
                }
                got.extend(mine);
            }
            if !got.is_empty() {
                given.insert(
                    c.name.clone(),
                    got.iter().map(|p| p.to_path_buf()).collect(),
                );
            }
        }
        if !given.is_empty() {
            held.insert(uid.to_string(), given);
        }
        Ok(())
    }

    /// The host devices container `container` of pod `uid` was given.
    pub fn container_devices(&self, uid: &str, container: &str) -> Vec<PathBuf> {
        self.lock()
            .get(uid)
            .and_then(|p| p.get(container))
            .cloned()
            .unwrap_or_default()
    }

    /// Frees the devices pod `uid` holds.
    pub fn release(&self, uid: &str) {
        if let Some(devices) = self.lock().remove(uid) {
            let paths: Vec<String> = devices
                .values()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            tracing::info!(pod = uid, devices = ?paths, "devices released");
        }
    }

    /// Whether pod `uid` holds any device.
    pub fn holds(&self, uid: &str) -> bool {
        self.lock().contains_key(uid)
    }

    /// How many devices of each declared resource exist on the host now (0 for a resource
    /// none of whose devices exists).
    pub fn capacity(&self) -> BTreeMap<String, u64> {
        capacity(&self.declared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodDevices>> {
        // A panic while the lock is held aborts the process (`panic = "abort"`), so the
        // map is never seen half-written.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How many devices of each declared resource exist on the host now.
pub fn capacity(declared: &[DeviceDeclaration]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for d in declared {
        let count = out.entry(d.resource.clone()).or_default();
        if seen.insert(d.path.as_path()) && d.is_present() {
            *count = count.saturating_add(1);
        }
    }
    out
}

/// The extended resources `c` asks for and how many units of each: its limits, as the
/// device manager reads them (the API server sets an extended resource's request to its
/// limit), or its requests where no limit is set. Fractions round up; zero asks for none.
fn container_wants(c: &Container) -> BTreeMap<String, usize> {
    let Some(r) = c.resources.as_ref() else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for list in [r.requests.as_ref(), r.limits.as_ref()]
        .into_iter()
        .flatten()
    {
        for (name, q) in list {
            let Ok(amount) = Quantity::parse(&q.0) else {
                continue;
            };
            if let Ok(n) = usize::try_from(amount.value()) {
                out.insert(name.clone(), n);
            }
        }
    }
    out.retain(|_, n| *n > 0);
    out
}

#[cfg(test)]
#[path = "allocation_tests.rs"]
mod tests;
