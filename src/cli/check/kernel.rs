//! Kernel features pods need: overlayfs for image root filesystems and nf_tables (over
//! netlink) for the egress masquerade of pod traffic and the Service proxy.

use super::Outcome;
use crate::netfilter::{self, NfSocket, Transaction};

/// overlayfs, from `/proc/filesystems`.
pub fn overlayfs() -> Outcome {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    overlay_from(&filesystems)
}

/// Judges `/proc/filesystems`; a module not loaded yet is not listed.
pub fn overlay_from(filesystems: &str) -> Outcome {
    const NAME: &str = "overlayfs";
    if filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        Outcome::ok(NAME, "overlay filesystem available")
    } else {
        Outcome::fail(
            NAME,
            "overlay is not in /proc/filesystems",
            "sudo modprobe overlay && echo overlay | sudo tee /etc/modules-load.d/bramble.conf",
        )
    }
}

/// The table the nf_tables probe adds and deletes in one transaction (so nothing changes).
const PROBE_TABLE: &str = "bramble-check";

/// nf_tables: sends, over netlink as the kubelet and the proxy do, one transaction that adds
/// a table and deletes it again, so it changes nothing.
pub fn nftables() -> Outcome {
    let mut tx = Transaction::new();
    tx.add_table(PROBE_TABLE).delete_table(PROBE_TABLE);
    nft_from(NfSocket::open().and_then(|mut socket| socket.commit(&tx)))
}

/// Judges the probe's result.
pub fn nft_from(result: netfilter::Result<()>) -> Outcome {
    const NAME: &str = "nftables";
    const FIX: &str =
        "sudo modprobe nf_tables nft_chain_nat (the kernel needs CONFIG_NF_TABLES and CONFIG_NFT_NAT)";
    let denied = |e: &netfilter::Error| match e {
        netfilter::Error::Socket { source, .. } => source.raw_os_error() == Some(libc::EPERM),
        other => other.errno() == Some(libc::EPERM),
    };
    match result {
        Ok(()) => Outcome::ok(NAME, "nf_tables answers (netlink)"),
        Err(e) if denied(&e) => Outcome::warn(
            NAME,
            "changing nf_tables needs root",
            "run `sudo bramble check`",
        ),
        Err(e) if e.is_unsupported() => Outcome::fail(NAME, "the kernel has no nf_tables", FIX),
        Err(e) => Outcome::fail(
            NAME,
            format!("nf_tables refused a test transaction: {e}"),
            FIX,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    #[test]
    fn overlay_listed_or_missing() {
        assert_eq!(
            overlay_from("nodev\tcgroup2\nnodev\toverlay\n").status,
            Status::Ok
        );
        let o = overlay_from("nodev\tsysfs\n\text4\n");
        assert_eq!(o.status, Status::Fail);
        assert!(o.fix.unwrap().contains("modprobe overlay"));
    }

    #[test]
    fn nft_missing_kernel_support_and_no_root() {
        let refused = |errno: i32| netfilter::Error::Rejected {
            op: "adding table bramble-check".into(),
            source: std::io::Error::from_raw_os_error(errno),
            detail: None,
            others: 0,
        };
        let user = nft_from(Err(refused(libc::EPERM)));
        assert_eq!(user.status, Status::Warn);
        assert_eq!(user.fix.as_deref(), Some("run `sudo bramble check`"));
        let no_socket = nft_from(Err(netfilter::Error::Socket {
            action: "open",
            source: std::io::Error::from_raw_os_error(libc::EPROTONOSUPPORT),
        }));
        assert_eq!(no_socket.status, Status::Fail);
        assert!(no_socket.fix.unwrap().contains("modprobe nf_tables"));
        let other = nft_from(Err(refused(libc::EINVAL)));
        assert_eq!(other.status, Status::Fail);
        assert_eq!(nft_from(Ok(())).status, Status::Ok);
    }

    #[test]
    fn the_probe_changes_nothing_here() {
        // As root on this machine: the probe answers and leaves no table behind.
        assert_eq!(nftables().status, Status::Ok);
        let out = std::process::Command::new("nft")
            .args(["list", "tables"])
            .output()
            .expect("nft");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(PROBE_TABLE));
    }
}
