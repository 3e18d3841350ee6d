//! The NodePorts plugin: a pod asking for a host port cannot land where another pod already
//! holds the same protocol and port on an overlapping host IP (upstream's `HostPortInfo`).

use k8s_openapi::api::core::v1::{ContainerPort, Pod};

use super::status::NodeStatus;
use super::NodeInfo;

/// Reason given when a wanted host port is taken.
pub(crate) const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// An IP that binds every address.
const BIND_ALL: &str = "0.0.0.0";

/// A host port claim with upstream's defaults filled in: empty IP binds all, empty protocol
/// is TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    ip: Box<str>,
    protocol: Box<str>,
    port: i32,
}

/// The host ports a pod's regular containers claim (ports without `hostPort` claim nothing).
pub(crate) fn host_ports(pod: &Pod) -> impl Iterator<Item = HostPort> + '_ {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(sanitize)
}

fn sanitize(p: &ContainerPort) -> Option<HostPort> {
    let port = p.host_port.filter(|&port| port > 0)?;
    let ip = p
        .host_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .unwrap_or(BIND_ALL);
    let protocol = p
        .protocol
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("TCP");
    Some(HostPort {
        ip: ip.into(),
        protocol: protocol.into(),
        port,
    })
}

/// Upstream's `HostPortInfo.CheckConflict`: a wildcard claim conflicts with the same
/// protocol/port on any IP; a specific IP conflicts with that IP or the wildcard.
fn conflicts(want: &HostPort, used: &HostPort) -> bool {
    if want.protocol != used.protocol || want.port != used.port {
        return false;
    }
    &*want.ip == BIND_ALL || &*used.ip == BIND_ALL || want.ip == used.ip
}

/// The Filter step.
pub(crate) fn filter(pod: &Pod, info: &NodeInfo<'_>) -> Option<NodeStatus> {
    let clash = host_ports(pod).any(|want| {
        info.usage
            .host_ports
            .iter()
            .any(|used| conflicts(&want, used))
    });
    clash.then(|| NodeStatus::unschedulable(vec![ERR_REASON.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    #[test]
    fn conflict_rules() {
        assert!(conflicts(
            &hp("0.0.0.0", "TCP", 80),
            &hp("10.0.0.1", "TCP", 80)
        ));
        assert!(conflicts(
            &hp("10.0.0.1", "TCP", 80),
            &hp("0.0.0.0", "TCP", 80)
        ));
        assert!(!conflicts(
            &hp("10.0.0.1", "TCP", 80),
            &hp("10.0.0.2", "TCP", 80)
        ));
        assert!(!conflicts(
            &hp("0.0.0.0", "UDP", 80),
            &hp("0.0.0.0", "TCP", 80)
        ));
        assert!(!conflicts(
            &hp("0.0.0.0", "TCP", 81),
            &hp("0.0.0.0", "TCP", 80)
        ));
    }
}
