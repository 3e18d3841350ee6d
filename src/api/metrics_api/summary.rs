//! The part of a kubelet's `/stats/summary` (upstream's `stats/v1alpha1.Summary`) that the
//! resource metrics are made of: CPU rate and memory working set of the node, of each pod's
//! containers, with the time of each sample. Everything else in the document is ignored.

use serde::Deserialize;

/// A kubelet's summary, reduced to the resource metrics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The node's totals.
    #[serde(default)]
    pub node: NodeStats,
    /// Every pod the kubelet runs.
    #[serde(default)]
    pub pods: Vec<PodStats>,
}

/// A node's CPU and memory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// The node's name.
    #[serde(default)]
    pub node_name: String,
    /// CPU use.
    pub cpu: Option<CpuStats>,
    /// Memory use.
    pub memory: Option<MemoryStats>,
}

/// A pod's containers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    /// Which pod.
    pub pod_ref: PodReference,
    /// Its containers.
    #[serde(default)]
    pub containers: Vec<ContainerStats>,
}

/// A pod's coordinates.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodReference {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// UID.
    #[serde(default)]
    pub uid: String,
}

/// One container's CPU and memory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    /// Container name.
    #[serde(default)]
    pub name: String,
    /// CPU use.
    pub cpu: Option<CpuStats>,
    /// Memory use.
    pub memory: Option<MemoryStats>,
}

/// CPU use at one time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// When it was sampled (RFC 3339).
    #[serde(default)]
    pub time: String,
    /// Cores in use, in billionths, over the last sampling interval.
    pub usage_nano_cores: Option<u64>,
}

/// Memory use at one time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// When it was sampled (RFC 3339).
    #[serde(default)]
    pub time: String,
    /// The working set: what the kernel cannot reclaim without swapping.
    pub working_set_bytes: Option<u64>,
}

/// CPU and memory of one thing, when both were sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Billionths of a core.
    pub nano_cores: u64,
    /// Working-set bytes.
    pub working_set_bytes: u64,
    /// When the CPU was sampled.
    pub time: String,
}

/// Both figures, or `None` when either is missing (a container that has just started), as
/// metrics-server leaves out what it cannot report whole.
pub fn usage(cpu: Option<&CpuStats>, memory: Option<&MemoryStats>) -> Option<Usage> {
    let cpu = cpu?;
    Some(Usage {
        nano_cores: cpu.usage_nano_cores?,
        working_set_bytes: memory?.working_set_bytes?,
        time: cpu.time.clone(),
    })
}

impl NodeStats {
    /// The node's usage, if complete.
    pub fn usage(&self) -> Option<Usage> {
        usage(self.cpu.as_ref(), self.memory.as_ref())
    }
}

impl PodStats {
    /// Each container's usage, or `None` if any container's is incomplete (metrics-server
    /// reports a pod whole or not at all).
    pub fn container_usage(&self) -> Option<Vec<(&str, Usage)>> {
        self.containers
            .iter()
            .map(|c| Some((c.name.as_str(), usage(c.cpu.as_ref(), c.memory.as_ref())?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resource_figures_of_a_kubelet_summary() {
        let text = r#"{
          "node": {"nodeName": "pi", "startTime": "2026-01-01T00:00:00Z",
                   "cpu": {"time": "2026-01-01T00:01:00Z", "usageNanoCores": 250000000, "usageCoreNanoSeconds": 9},
                   "memory": {"time": "2026-01-01T00:01:00Z", "workingSetBytes": 1048576, "rssBytes": 5},
                   "fs": {"availableBytes": 1}},
          "pods": [
            {"podRef": {"name": "web", "namespace": "default", "uid": "u1"},
             "containers": [{"name": "nginx", "cpu": {"time": "t", "usageNanoCores": 1500000},
                             "memory": {"time": "t", "workingSetBytes": 4096}}]},
            {"podRef": {"name": "new", "namespace": "default", "uid": "u2"},
             "containers": [{"name": "c", "cpu": {"time": "t"}, "memory": {"time": "t", "workingSetBytes": 1}}]}
          ]}"#;
        let s: Summary = serde_json::from_str(text).unwrap();
        assert_eq!(s.node.node_name, "pi");
        let node = s.node.usage().unwrap();
        assert_eq!(
            (node.nano_cores, node.working_set_bytes),
            (250_000_000, 1_048_576)
        );
        let web = s.pods[0].container_usage().unwrap();
        assert_eq!(web[0].0, "nginx");
        assert_eq!(web[0].1.nano_cores, 1_500_000);
        // a container without a CPU rate yet leaves its pod out
        assert!(s.pods[1].container_usage().is_none());
    }
}
