//! One server alone leads: it holds the scheduler's and the controllers' Leases in
//! `kube-system` from the start, keeps an `apiserver-<node>` Lease with its address, and
//! the `kubernetes` Service's endpoints carry that address and the API port. Stopped
//! gracefully, it releases both leases. The server runs in a network namespace of its own
//! (tag 180) so that it listens on an address pods could reach.

use std::process::Command;

use crate::support;

use support::lan::Switch;
use support::registry::require_root;
use support::{eventually, Cluster};

const TAG: u8 = 180;

fn jsonpath(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut all: Vec<&str> = args.to_vec();
    let expr = format!("jsonpath={path}");
    all.extend(["-o", &expr]);
    c.kubectl_ok(&all)
}

#[test]
fn a_single_server_holds_both_leases_and_is_the_kubernetes_endpoint() {
    require_root();
    let switch = Switch::new(TAG, 1);
    let ip = switch.board_ip(1);
    let mut c = Cluster::start_in_netns(
        &switch.netns_path(1),
        &ip,
        vec!["--no-agent".into(), "--node-monitor-grace-period=1h".into()],
    );

    let holders = eventually("both leases held", || {
        let names = c.kubectl_ok(&["get", "lease", "-n", "kube-system"]);
        (names.contains("kube-scheduler") && names.contains("kube-controller-manager"))
            .then_some(())?;
        let holder = |lease: &str| {
            jsonpath(
                &c,
                &["get", "lease", "-n", "kube-system", lease],
                "{.spec.holderIdentity}",
            )
        };
        let (scheduler, controllers) =
            (holder("kube-scheduler"), holder("kube-controller-manager"));
        (!scheduler.is_empty() && !controllers.is_empty()).then_some((scheduler, controllers))
    });
    // `<hostname>_<uuid>`, one identity per lease, as upstream's components campaign.
    for holder in [&holders.0, &holders.1] {
        let (_, id) = holder.rsplit_once('_').expect("hostname_uuid");
        assert_eq!(id.len(), 36, "{holder}");
    }
    let lease = jsonpath(
        &c,
        &["get", "lease", "-n", "kube-system", "kube-scheduler"],
        "{.spec.leaseDurationSeconds} {.spec.leaseTransitions} {.spec.renewTime}",
    );
    let fields: Vec<&str> = lease.split(' ').collect();
    assert_eq!(fields[..2], ["15", "0"], "{lease}");
    assert!(
        fields[2].ends_with('Z') && fields[2].contains('.'),
        "{lease}"
    );

    let own = jsonpath(
        &c,
        &["get", "lease", "-n", "kube-system", "apiserver-test-node"],
        "{.metadata.annotations.bramble\\.dev/advertise-address}",
    );
    assert_eq!(own, ip);
    let endpoints = jsonpath(
        &c,
        &["get", "endpoints", "kubernetes"],
        "{.subsets[*].addresses[*].ip} {.subsets[*].ports[*].port}",
    );
    assert_eq!(endpoints, format!("{ip} {}", c.port));
    let slice = jsonpath(
        &c,
        &["get", "endpointslice", "kubernetes"],
        "{.endpoints[*].addresses[*]}",
    );
    assert_eq!(slice, ip);

    // A graceful stop releases both leases, so another server would take over at once.
    let pid = c.pid().expect("server running").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    eventually("both leases released", || {
        (c.log().matches("released the lease").count() == 2).then_some(())
    });
    c.kill9();
}
