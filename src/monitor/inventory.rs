//! What the kubelet knows about the pods it runs, as the stats need it: each pod's name,
//! namespace, uid and start, its cgroup, its volumes' directories, and each current
//! container's runtime id, image, start, init pid, cgroup, overlay upper directory and log
//! directory. Pod workers publish an entry when what they observe changes and withdraw it
//! at teardown (upstream's stats provider reads the same from the pod manager and the
//! runtime); the sampler reads a snapshot each period, so no path is ever guessed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

/// One pod as its worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod uid.
    pub uid: String,
    /// When the kubelet took the pod up (the pod's `status.startTime`).
    pub start_time: DateTime<Utc>,
    /// The pod's cgroup path (`/bramble/pod<uid>`).
    pub cgroup: String,
    /// The pod's containers that have a runtime instance.
    pub containers: Vec<ContainerEntry>,
    /// The pod's volumes whose usage is reported (hostPath volumes are not, as upstream).
    pub volumes: Vec<VolumeEntry>,
}

/// One container's current runtime instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEntry {
    /// Container name.
    pub name: String,
    /// Runtime id (`<pod-uid>_<name>_<attempt>`).
    pub id: String,
    /// Image as the pod spec names it.
    pub image: String,
    /// When the instance started.
    pub start_time: Option<DateTime<Utc>>,
    /// Host pid of its init, while it runs.
    pub pid: Option<i32>,
    /// Its cgroup path.
    pub cgroup: String,
    /// The overlay upper directory: the container's writable layer.
    pub upper_dir: PathBuf,
    /// The directory of its CRI log files.
    pub log_dir: PathBuf,
}

/// A pod volume's directory on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeEntry {
    /// Volume name.
    pub name: String,
    /// Where it is on the host.
    pub path: PathBuf,
    /// The claim it mounts, when it is a persistentVolumeClaim volume.
    pub claim: Option<String>,
}

/// The pods the kubelet runs, by uid.
#[derive(Debug, Default)]
pub struct Inventory {
    pods: Mutex<BTreeMap<String, Arc<PodEntry>>>,
}

impl Inventory {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<PodEntry>>> {
        // A panic while holding this lock aborts the process (`panic = "abort"`), so a
        // poisoned lock is never observed; recover the map regardless.
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `entry`, replacing the pod's previous one (unchanged entries are kept, so
    /// the sampler sees no change).
    pub fn publish(&self, entry: PodEntry) {
        let mut pods = self.lock();
        if pods.get(&entry.uid).is_some_and(|e| **e == entry) {
            return;
        }
        pods.insert(entry.uid.clone(), Arc::new(entry));
    }

    /// Withdraws pod `uid` (torn down).
    pub fn remove(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// The pods as they stand, in uid order.
    pub fn snapshot(&self) -> Vec<Arc<PodEntry>> {
        self.lock().values().cloned().collect()
    }

    /// (pods, containers with a running init) as the kubelet counts them.
    pub fn counts(&self) -> (usize, usize) {
        let pods = self.lock();
        let containers = pods
            .values()
            .flat_map(|p| p.containers.iter())
            .filter(|c| c.pid.is_some())
            .count();
        (pods.len(), containers)
    }
}
