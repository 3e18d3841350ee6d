//! Kernel features pods need: overlayfs for image root filesystems and nf_tables (through
//! the `nft` tool) for the egress masquerade of pod traffic.

use std::process::{Command, Output};

use super::Outcome;

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

/// nftables: runs `nft list tables`, as the kubelet will run `nft -f -`.
pub fn nftables() -> Outcome {
    nft_from(Command::new("nft").args(["list", "tables"]).output())
}

/// Judges the result of running `nft list tables`.
pub fn nft_from(result: std::io::Result<Output>) -> Outcome {
    const NAME: &str = "nftables";
    let out = match result {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::fail(
                NAME,
                "the nft tool is not installed",
                "sudo apt install nftables",
            )
        }
        Err(e) => {
            return Outcome::fail(
                NAME,
                format!("cannot run nft: {e}"),
                "sudo apt install --reinstall nftables",
            )
        }
    };
    if out.status.success() {
        return Outcome::ok(NAME, "nft works (nf_tables)");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or("").trim().to_string();
    if err.contains("Operation not permitted") {
        Outcome::warn(
            NAME,
            "nft needs root to list tables",
            "run `sudo bramble check`",
        )
    } else {
        Outcome::fail(
            NAME,
            format!("nft list tables failed: {first}"),
            "sudo modprobe nf_tables nft_chain_nat (the kernel needs CONFIG_NF_TABLES and CONFIG_NFT_NAT)",
        )
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::super::Status;
    use super::*;

    fn output(code: i32, stderr: &str) -> std::io::Result<Output> {
        Ok(Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        })
    }

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
        let absent = nft_from(Err(std::io::ErrorKind::NotFound.into()));
        assert_eq!(absent.status, Status::Fail);
        assert_eq!(absent.fix.as_deref(), Some("sudo apt install nftables"));
        let kernel = nft_from(output(
            1,
            "Error: Could not process rule: Protocol not supported\n",
        ));
        assert_eq!(kernel.status, Status::Fail);
        assert!(kernel.fix.unwrap().contains("modprobe nf_tables"));
        let user = nft_from(output(
            1,
            "Error: Operation not permitted (you must be root)\n",
        ));
        assert_eq!(user.status, Status::Warn);
        assert_eq!(nft_from(output(0, "")).status, Status::Ok);
    }
}
