//! Network namespaces the benchmark makes for itself, so nothing it programs or binds touches
//! this machine's own network: each is named `bsvc<pid>-<tag>` (made with `ip netns add`,
//! loopback up) and deleted on drop. Work runs inside one on a thread of its own, which
//! enters the namespace first; threads and processes it starts (a tokio runtime's workers, a
//! `bramble server`, dnsmasq) are born in it.

use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use nix::sched::{setns, CloneFlags};

/// A network namespace of this process; deleted when dropped.
pub struct Netns {
    name: String,
}

/// Runs `ip ARGS` and fails with its error output.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Netns {
    /// A new namespace `bsvc<pid>-<tag>` with its loopback up.
    pub fn new(tag: &str) -> anyhow::Result<Netns> {
        let name = format!("bsvc{}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A new namespace that looks like a board on a LAN: besides loopback, an interface
    /// `eth0` (one end of a veth pair whose other end, `eth0-peer`, stays in the namespace,
    /// so nothing leaves) with an address and the default route through it.
    /// A node's own connection to a ClusterIP needs a route to the address before the
    /// proxy's DNAT rewrites it, as a real node has.
    pub fn board(tag: &str) -> anyhow::Result<Netns> {
        let ns = Netns::new(tag)?;
        ns.ip(&[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0-peer",
        ])?;
        ns.ip(&["link", "set", "eth0-peer", "up"])?;
        ns.ip(&["addr", "add", "10.253.0.2/24", "dev", "eth0"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        ns.ip(&["route", "add", "default", "via", "10.253.0.1"])?;
        Ok(ns)
    }

    /// Its name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Sets a sysctl of the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-q", "-w"])
            .arg(format!("{key}={value}"))
            .output()
            .context("running sysctl")?;
        if !out.status.success() {
            bail!("sysctl {key}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Starts `f` on a new thread inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> std::thread::JoinHandle<anyhow::Result<T>> {
        let path = self.path();
        std::thread::spawn(move || {
            let ns = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            setns(&ns, CloneFlags::CLONE_NEWNET).context("entering the network namespace")?;
            f()
        })
    }

    /// Runs `f` on a thread inside the namespace and waits for it.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        match self.spawn(f).join() {
            Ok(result) => result,
            Err(_) => bail!("a thread in namespace {} panicked", self.name),
        }
    }

    /// Runs the future made by `make` to completion on a multi-threaded tokio runtime whose
    /// threads all live in the namespace.
    pub fn block_on<T, F>(&self, make: impl FnOnce() -> F + Send + 'static) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: Future<Output = anyhow::Result<T>>,
    {
        self.run(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting a runtime in the namespace")?;
            runtime.block_on(make())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
