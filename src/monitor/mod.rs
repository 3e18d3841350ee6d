//! What cAdvisor and the kubelet's stats provider do: container, pod and node statistics
//! sampled from cgroup v1 and v2 and `/proc` into fixed-size (`heapless`) histories, and the
//! kubelet's read-only endpoints over them (`/stats/summary`, `/metrics/cadvisor`,
//! `/metrics/resource`).
//!
//! Pod workers publish what they run into the [`Inventory`]; the [`sampler`] reads it every
//! period and keeps per-container, per-pod and node state in [`NodeStats`]; [`endpoints`]
//! renders that state ([`summary`], [`resource_metrics`], [`cadvisor_metrics`],
//! [`kubelet_metrics`]) through `serving::prometheus`, the text format writer both HTTPS
//! servers share.

pub mod cadvisor_metrics;
pub mod cgroup;
pub mod endpoints;
pub mod fs_usage;
pub mod history;
pub mod inventory;
pub mod kubelet_metrics;
pub mod procfs;
pub mod resource_metrics;
pub mod sampler;
pub mod store;
pub mod summary;

pub use inventory::{ContainerEntry, Inventory, PodEntry, VolumeEntry};
pub use sampler::SamplerConfig;
pub use store::NodeStats;
