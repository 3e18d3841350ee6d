//! Egress masquerade for pods in Bramble's own nftables table (`ip <table>`), applied through
//! nf_tables netlink ([`crate::netfilter`]) as one atomic transaction. Only this table is ever
//! written or deleted, so rules of other software (firewalls, container engines) are left
//! alone. Traffic from the pod CIDR to anywhere outside the cluster CIDR leaves with the
//! node's address, as flannel's `ip-masq` rules do for k3s; pod-to-pod traffic (also across
//! nodes) keeps pod addresses. An operator reads it with `nft list table ip bramble`:
//!
//! ```text
//! table ip bramble {
//!     chain pod-egress {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr 10.42.3.0/24 ip daddr != 10.42.0.0/16 masquerade
//!     }
//! }
//! ```

use super::error::{NetworkError, Result};
use crate::cidr::Ipv4Cidr;
use crate::netfilter::{priority, Chain, ChainType, Hook, NfSocket, Rule, Transaction};

/// The chain holding the masquerade rule.
const EGRESS_CHAIN: &str = "pod-egress";

/// The transaction making sure `table` masquerades egress of `pod_cidr`; re-applying replaces
/// the chain's rules rather than adding duplicates.
pub fn masquerade(table: &str, pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> Transaction {
    let mut tx = Transaction::new();
    tx.add_table(table)
        .add_chain(
            table,
            &Chain::base(
                EGRESS_CHAIN,
                ChainType::Nat,
                Hook::Postrouting,
                priority::SRCNAT,
            ),
        )
        .flush_chain(table, EGRESS_CHAIN)
        .add_rule(
            table,
            EGRESS_CHAIN,
            &Rule::new()
                .ip_saddr()
                .in_prefix(pod_cidr)
                .ip_daddr()
                .not_in_prefix(cluster_cidr)
                .masquerade(),
        );
    tx
}

/// Applies `tx` in the calling thread's network namespace.
pub fn apply(table: &str, tx: &Transaction) -> Result<()> {
    NfSocket::open()
        .and_then(|mut socket| socket.commit(tx))
        .map_err(|source| NetworkError::Nft {
            table: table.to_string(),
            source,
        })
}

/// Deletes `table`; a missing table is not an error.
pub fn delete_table(table: &str) -> Result<()> {
    // Adding the table first makes the delete succeed whether or not it existed.
    let mut tx = Transaction::new();
    tx.add_table(table).delete_table(table);
    apply(table, &tx)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A network namespace for the test, deleted on drop.
    struct TestNetns(String);

    impl Drop for TestNetns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    fn nft_list(ns: &str, table: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "list", "table", "ip", table])
            .output()
            .expect("run nft (is the nftables package installed?)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn masquerades_only_traffic_leaving_the_cluster_and_reapplying_keeps_one_rule() {
        let ns = TestNetns(format!("bramble-masq-{}", std::process::id()));
        let made = Command::new("ip").args(["netns", "add", &ns.0]).status();
        assert!(made.is_ok_and(|s| s.success()), "ip netns add (needs root)");
        let path = std::path::Path::new("/run/netns").join(&ns.0);
        let mut socket = NfSocket::open_in(&path).expect("open nf_tables in the namespace");
        let tx = masquerade(
            "bramble",
            "10.42.3.0/24".parse().unwrap(),
            "10.42.0.0/16".parse().unwrap(),
        );
        socket.commit(&tx).expect("apply");
        socket.commit(&tx).expect("apply again");
        let text = nft_list(&ns.0, "bramble");
        assert!(
            text.contains("type nat hook postrouting priority srcnat; policy accept;"),
            "{text}"
        );
        assert_eq!(
            text.matches("ip saddr 10.42.3.0/24 ip daddr != 10.42.0.0/16 masquerade")
                .count(),
            1,
            "{text}"
        );

        let mut delete = Transaction::new();
        delete.add_table("bramble").delete_table("bramble");
        socket.commit(&delete).expect("delete");
        socket
            .commit(&delete)
            .expect("deleting a missing table is not an error");
    }
}
