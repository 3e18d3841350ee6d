//! The node-local cluster DNS server. Every node runs it inside the bramble process:
//! authoritative for the cluster domain (`cluster.local`) and for the cluster's addresses in
//! `in-addr.arpa` / `ip6.arpa`, answering from the node's shared informer caches exactly as
//! CoreDNS's `kubernetes` plugin does under k3s' Corefile, and forwarding every other name to
//! the node's upstream resolvers through a bounded cache, as its `forward` and `cache` plugins
//! do. Pods reach it at the `kube-dns` Service IP, which the proxy sends to this listener.
//!
//! [`serve`] binds UDP and TCP on each address and returns once bound; the tasks end with the
//! shutdown token.

mod cache;
mod error;
mod forward;
mod handler;
mod lookup;
mod names;
mod records;
mod replay;
mod replay_forwarded;
mod respond;
mod reverse;
mod server_tcp;
mod server_udp;
mod source;
pub mod upstreams;
mod zone;

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod test_records;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cache::CacheLimits;
pub use error::DnsError;
pub use records::InformerRecords;
pub use server_udp::receive_loops;
pub use source::{ClusterRecords, SERVICE_NAME_LABEL};

use forward::Forwarder;
use handler::Handler;
use server_tcp::TcpLimits;
use zone::Zone;

/// Where forwarded queries go.
#[derive(Debug, Clone)]
pub enum Upstreams {
    /// The `nameserver`s of a resolv.conf (`path`), or of `systemd_path` when `path` names only
    /// systemd-resolved's stub 127.0.0.53; read once at start.
    ResolvConf {
        /// Normally `/etc/resolv.conf` (or the kubelet's `--resolv-conf`).
        path: PathBuf,
        /// Normally `/run/systemd/resolve/resolv.conf`.
        systemd_path: PathBuf,
    },
    /// These servers, in order.
    Fixed(Vec<SocketAddr>),
}

/// How the DNS server runs.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Addresses to listen on, UDP and TCP each (port 0: one free port, the same for both).
    pub listen: Vec<SocketAddr>,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
    /// TTL of the cluster's records, seconds (k3s' Corefile: `ttl 30`).
    pub ttl: u32,
    /// The cluster DNS Service's addresses (`kube-dns`, 10.43.0.10): the zone's name server
    /// `ns.dns.<domain>`, and never an upstream.
    pub dns_service_ips: Vec<IpAddr>,
    /// The upstream resolvers.
    pub upstreams: Upstreams,
    /// How long one upstream gets for one try (UDP, or the TCP retry).
    pub upstream_timeout: Duration,
    /// The forwarder's cache bounds.
    pub cache: CacheLimits,
    /// Forwarded queries out at once; more are answered SERVFAIL.
    pub max_forwarded: usize,
    /// TCP connections at once; more are closed on accept.
    pub max_tcp_connections: usize,
    /// How long a TCP connection may wait between queries (CoreDNS: 10 s).
    pub tcp_idle_timeout: Duration,
    /// How long the rest of a TCP query (or the write of its answer) may take.
    pub tcp_read_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: Vec::new(),
            domain: "cluster.local".into(),
            ttl: 30,
            dns_service_ips: vec![IpAddr::V4(Ipv4Addr::new(10, 43, 0, 10))],
            upstreams: Upstreams::ResolvConf {
                path: "/etc/resolv.conf".into(),
                systemd_path: upstreams::SYSTEMD_RESOLV_CONF.into(),
            },
            // CoreDNS's forward plugin gives up on an upstream after 2 s as well.
            upstream_timeout: Duration::from_secs(2),
            // k3s' Corefile says `cache 30`: at most 30 s, positive and negative. 4096
            // answers of at most 2 MiB in all keep a board's memory in check.
            cache: CacheLimits {
                entries: 4096,
                bytes: 2 << 20,
                max_ttl: Duration::from_secs(30),
                max_negative_ttl: Duration::from_secs(30),
            },
            max_forwarded: 256,
            max_tcp_connections: 128,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_read_timeout: Duration::from_secs(2),
        }
    }
}

/// A running DNS server. Its tasks run until the shutdown token is cancelled, whether or not
/// this handle is kept.
pub struct DnsServer {
    addrs: Vec<SocketAddr>,
    upstreams: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// The bound addresses (UDP and TCP share each).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The upstream resolvers in use.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Waits until every task has ended (after shutdown).
    pub async fn stopped(self) {
        for task in self.tasks {
            // A task that panicked has already aborted the process (`panic = "abort"`).
            let _ = task.await;
        }
    }
}

/// Tries for one port free for both UDP and TCP when port 0 is asked for.
const PORT_TRIES: usize = 16;

async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), DnsError> {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                transport: "udp",
                addr,
                source,
            })?;
        let bound = udp.local_addr().map_err(|source| DnsError::Bind {
            transport: "udp",
            addr,
            source,
        })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(_) if addr.port() == 0 && tries < PORT_TRIES => tries += 1,
            Err(source) => {
                return Err(DnsError::Bind {
                    transport: "tcp",
                    addr: bound,
                    source,
                })
            }
        }
    }
}

/// Starts the DNS server: binds every address of `config.listen` (UDP and TCP), reads the
/// upstream resolvers, and serves answers from `records` until `shutdown`. Returns once
/// bound; fails if an address cannot be bound.
pub async fn serve<R: ClusterRecords>(
    config: DnsConfig,
    records: R,
    shutdown: CancellationToken,
) -> Result<DnsServer, DnsError> {
    if config.listen.is_empty() {
        return Err(DnsError::NoListenAddress);
    }
    let zone = Zone::new(
        Arc::new(records),
        &config.domain,
        config.ttl,
        config.dns_service_ips.clone(),
    )?;
    let mut sockets = Vec::new();
    for addr in &config.listen {
        sockets.push(bind(*addr).await?);
    }
    let addrs: Vec<SocketAddr> = sockets.iter().map(|(_, _, a)| *a).collect();
    let mut own = addrs.clone();
    own.extend(
        config
            .dns_service_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, 0)),
    );
    let upstreams = match &config.upstreams {
        Upstreams::Fixed(list) => upstreams::without_self(list.iter().copied(), &own),
        Upstreams::ResolvConf { path, systemd_path } => {
            upstreams::from_files(path, systemd_path, &own)
        }
    };
    if upstreams.is_empty() {
        tracing::warn!("no upstream DNS resolver: names outside the cluster will fail");
    }
    tracing::info!(addrs = ?addrs, upstreams = ?upstreams, domain = %config.domain, "cluster DNS serving");
    let handler = Arc::new(Handler {
        zone,
        forwarder: Forwarder::new(
            upstreams.clone(),
            config.upstream_timeout,
            config.cache,
            config.max_forwarded.max(1),
        ),
        replay: replay::Replay::default(),
        forwarded: replay_forwarded::ForwardedReplay::default(),
    });
    let limits = TcpLimits {
        max_connections: config.max_tcp_connections.max(1),
        idle_timeout: config.tcp_idle_timeout,
        read_timeout: config.tcp_read_timeout,
    };
    let mut tasks = Vec::new();
    for (udp, tcp, _) in sockets {
        let udp = Arc::new(udp);
        for _ in 0..server_udp::receive_loops() {
            tasks.push(tokio::spawn(server_udp::run(
                udp.clone(),
                handler.clone(),
                shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(server_tcp::run(
            tcp,
            handler.clone(),
            limits,
            shutdown.clone(),
        )));
    }
    Ok(DnsServer {
        addrs,
        upstreams,
        tasks,
    })
}
