//! Kernel tests of the nf_tables client, each in network namespaces it creates (named with
//! the process id, removed by a drop guard), never the host's. `nft` reads back what the
//! kernel holds.

mod conformance;
mod replace;
mod scale;
mod traffic;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::NfSocket;

/// A network namespace made with `ip netns add`, deleted on drop.
pub(super) struct Netns {
    name: String,
}

impl Netns {
    pub(super) fn new(tag: &str) -> Netns {
        let name = format!("bramble-nft-{}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    pub(super) fn socket(&self) -> NfSocket {
        NfSocket::open_in(&self.path()).expect("open an nf_tables socket in the test namespace")
    }

    /// `ip -n NS ARGS`
    pub(super) fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `nft ARGS` in the namespace; panics with nft's message on failure.
    pub(super) fn nft(&self, args: &[&str]) -> String {
        let out = self.nft_output(args, None);
        assert!(out.0, "nft {args:?} failed: {}", out.2);
        out.1
    }

    /// `nft -f -` with `text` in the namespace.
    pub(super) fn nft_file(&self, text: &str) {
        let out = self.nft_output(&["-f", "-"], Some(text));
        assert!(out.0, "nft -f failed: {}\n{text}", out.2);
    }

    /// (success, stdout, stderr) of `nft ARGS` in the namespace.
    pub(super) fn nft_output(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, "nft"]).args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("run nft (is the nftables package installed?)");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("write to nft");
        }
        drop(pipe);
        let out = child.wait_with_output().expect("wait for nft");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a command, panicking with its output when it fails.
pub(super) fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed (these tests need root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
