//! `/metrics`: the kubelet's own figures (upstream's `pkg/kubelet/metrics`). For now the
//! running pods and containers as the kubelet counts them; other parts of the kubelet add
//! their families by writing into the same `String`.

use super::inventory::Inventory;
use crate::serving::prometheus::{family, sample_at, Type};

/// Writes the kubelet's own metrics into `out`.
pub fn render(inventory: &Inventory, out: &mut String) {
    let (pods, containers) = inventory.counts();
    family(
        out,
        "kubelet_running_containers",
        "[ALPHA] Number of containers currently running",
        Type::Gauge,
    );
    sample_at(
        out,
        "kubelet_running_containers",
        &[("container_state", "running")],
        containers as f64,
        None,
    );
    family(
        out,
        "kubelet_running_pods",
        "[ALPHA] Number of pods that have a running pod sandbox",
        Type::Gauge,
    );
    sample_at(out, "kubelet_running_pods", &[], pods as f64, None);
}
