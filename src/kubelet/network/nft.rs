//! Egress masquerade for pods in Bramble's own nftables table (`ip <table>`), applied through
//! `nft -f -` as one atomic transaction. Only this table is ever written or deleted, so rules
//! of other software (firewalls, container engines) are left alone. Traffic from the pod CIDR
//! to anywhere outside the cluster CIDR leaves with the node's address, as flannel's
//! `ip-masq` rules do for k3s; pod-to-pod traffic (also across nodes) keeps pod addresses.
//!
//! The `nft` binary is used instead of an nf_tables netlink crate: the ruleset is a few lines,
//! the available crates either shell out to `nft` themselves or need libnftnl, and the text
//! form is what an operator reads with `nft list table ip bramble`.

use std::io::Write;
use std::process::{Command, Stdio};

use super::error::{NetworkError, Result};
use crate::cidr::Ipv4Cidr;

/// The chain holding the masquerade rule.
const EGRESS_CHAIN: &str = "pod-egress";

/// The ruleset making sure `table` masquerades egress of `pod_cidr`; re-applying replaces the
/// chain's rules rather than adding duplicates.
pub fn masquerade_ruleset(table: &str, pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {
    format!(
        "table ip {table} {{\n\
         \tchain {EGRESS_CHAIN} {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t}}\n\
         }}\n\
         flush chain ip {table} {EGRESS_CHAIN}\n\
         add rule ip {table} {EGRESS_CHAIN} ip saddr {pod_cidr} ip daddr != {cluster_cidr} masquerade\n"
    )
}

/// Applies `ruleset` with `nft -f -`.
pub fn apply(table: &str, ruleset: &str) -> Result<()> {
    run(table, &["-f", "-"], Some(ruleset))
}

/// Deletes `table`; a missing table is not an error.
pub fn delete_table(table: &str) -> Result<()> {
    // Declaring the table first makes the delete succeed whether or not it existed.
    apply(
        table,
        &format!("table ip {table}\ndelete table ip {table}\n"),
    )
}

fn run(table: &str, args: &[&str], stdin: Option<&str>) -> Result<()> {
    let fail = |detail: String| NetworkError::Nft {
        table: table.to_string(),
        detail,
    };
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run nft: {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| fail(format!("cannot write the ruleset to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(format!(
            "nft {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_masquerades_only_traffic_leaving_the_cluster() {
        let text = masquerade_ruleset(
            "bramble",
            "10.42.3.0/24".parse().unwrap(),
            "10.42.0.0/16".parse().unwrap(),
        );
        assert!(text.contains("flush chain ip bramble pod-egress"), "{text}");
        assert!(
            text.contains("ip saddr 10.42.3.0/24 ip daddr != 10.42.0.0/16 masquerade"),
            "{text}"
        );
        assert!(!text.contains("inet"), "only Bramble's ip table is touched");
    }
}
