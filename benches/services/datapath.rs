//! Phase 1, the data path: connections per second and connect latency to a ClusterIP that
//! the proxy's real ruleset sends to one endpoint, against the same connections made straight
//! to that endpoint.
//!
//! Two namespaces of the bench's own joined by a veth: the server's runs a listener that
//! accepts and closes; the client's holds the proxy's table (`bramble::proxy::ruleset`, built
//! from [`ServicePort`]s as the proxy builds it from the informers) with [`OTHER_SERVICES`]
//! Services of two endpoints each besides the two measured ones. Both measured Services lead
//! to the one endpoint; the client reaches the first from an address in the cluster network,
//! as a pod does (DNAT only), the second from one outside it, as the node's own processes do
//! (DNAT and masquerade): a route per cluster IP picks the source address. A fixed number of
//! connector threads connect and close in a loop for a fixed time; the three paths take
//! turns, so a change in the machine's load falls on all.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bramble::cidr::Ipv4Cidr;
use bramble::netfilter::{NfSocket, Transaction};
use bramble::proxy::model::{tag_of, Backend, Protocol, ServicePort};
use bramble::proxy::ruleset::{Context, Ruleset};

use crate::netns::Netns;

/// Services in the table besides the measured ones.
pub const OTHER_SERVICES: usize = 1000;
/// Connector threads, each with one connection in progress at a time: one per core. More
/// would measure the scheduler: a thread preempted mid-connect adds a time slice to the
/// tail of whichever path it was on.
pub fn connectors() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
/// How long each path is driven per turn.
pub const TURN: Duration = Duration::from_secs(1);
/// Turns per path.
pub const TURNS: usize = 8;
/// Connections per path and turn at most.
pub const TURN_CONNECTIONS: usize = 60_000;
/// Driven before the first turn, unmeasured (caches, conntrack, the listener thread).
const WARM_UP: Duration = Duration::from_millis(500);

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// The client's address in the cluster network, the source of connections "from a pod".
const CLIENT_POD_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
/// The Service reached from the cluster network.
const POD_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 100);
/// The Service reached from the node's own address.
const NODE_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 101);
const SERVICE_PORT: u16 = 80;

/// What one path did over all its turns.
#[derive(Debug, Default, Clone)]
pub struct PathResult {
    /// Connections made and closed.
    pub connections: usize,
    /// Connects that failed.
    pub errors: usize,
    /// Time driven.
    pub elapsed: Duration,
    /// Connect latencies, sorted.
    pub latencies: Vec<Duration>,
    /// Connections per second of each turn.
    pub turn_rates: Vec<f64>,
}

impl PathResult {
    /// Connections per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.connections as f64 / self.elapsed.as_secs_f64()
    }
}

/// The phase's figures.
#[derive(Debug, Default)]
pub struct DataPath {
    /// Through a ClusterIP from the cluster network (as a pod): DNAT.
    pub from_pod: PathResult,
    /// Through a ClusterIP from the node's address: DNAT and masquerade.
    pub from_node: PathResult,
    /// Straight to the endpoint.
    pub direct: PathResult,
    /// Chains in the programmed table.
    pub chains: usize,
    /// Why the phase stopped short, if it did.
    pub error: Option<String>,
}

/// Runs the phase; a failure is reported in [`DataPath::error`].
pub fn measure() -> DataPath {
    let mut result = DataPath::default();
    if let Err(e) = run(&mut result) {
        result.error = Some(format!("{e:#}"));
    }
    result
}

fn run(result: &mut DataPath) -> anyhow::Result<()> {
    let client = Netns::new("dpc")?;
    let server = Netns::new("dps")?;
    client.ip(&[
        "link",
        "add",
        "veth0",
        "type",
        "veth",
        "peer",
        "name",
        "veth1",
        "netns",
        server.name(),
    ])?;
    client.ip(&["addr", "add", &format!("{CLIENT_IP}/24"), "dev", "veth0"])?;
    client.ip(&["link", "set", "veth0", "up"])?;
    server.ip(&["addr", "add", &format!("{SERVER_IP}/24"), "dev", "veth1"])?;
    server.ip(&["link", "set", "veth1", "up"])?;
    client.ip(&["route", "add", "default", "via", &SERVER_IP.to_string()])?;
    client.ip(&[
        "addr",
        "add",
        &format!("{CLIENT_POD_IP}/32"),
        "dev",
        "veth0",
    ])?;
    client.ip(&[
        "route",
        "add",
        &format!("{POD_CLUSTER_IP}/32"),
        "via",
        &SERVER_IP.to_string(),
        "src",
        &CLIENT_POD_IP.to_string(),
    ])?;
    server.ip(&[
        "route",
        "add",
        &format!("{CLIENT_POD_IP}/32"),
        "via",
        &CLIENT_IP.to_string(),
    ])?;
    // Room for every connection of a turn (closed with a reset, so none waits in TIME_WAIT).
    client.sysctl("net.ipv4.ip_local_port_range", "1024 65000")?;

    let stop = Arc::new(AtomicBool::new(false));
    let listener = TcpListenerIn::start(&server, stop.clone())?;
    let endpoint = SocketAddr::from((SERVER_IP, listener.port));

    let table = format!("bsvc{}", std::process::id());
    let (ctx, ports) = services(&table, endpoint);
    let ruleset = Ruleset::new(&ctx, &ports);
    result.chains = ruleset.chain_count();
    let tx = ruleset.transaction(&table, None);
    client.run(move || {
        NfSocket::open()?
            .commit(&tx)
            .context("programming the proxy table")
    })?;

    // A connection closed by a reset leaves its conntrack entry for the `close` timeout
    // (10 s): at tens of thousands of connections a second, the table would fill (the
    // machine's limit is shared by every namespace) and new connections would wait on it.
    client.sysctl("net.netfilter.nf_conntrack_tcp_timeout_close", "1")?;

    let from_pod = SocketAddr::from((POD_CLUSTER_IP, SERVICE_PORT));
    let from_node = SocketAddr::from((NODE_CLUSTER_IP, SERVICE_PORT));
    let drive = |target: SocketAddr, time: Duration| {
        client.run(move || Ok(drive(target, time, TURN_CONNECTIONS)))
    };
    for target in [from_pod, from_node, endpoint] {
        drive(target, WARM_UP)?;
    }
    for _ in 0..TURNS {
        merge(&mut result.direct, drive(endpoint, TURN)?);
        merge(&mut result.from_pod, drive(from_pod, TURN)?);
        merge(&mut result.from_node, drive(from_node, TURN)?);
    }
    for path in [
        &mut result.direct,
        &mut result.from_pod,
        &mut result.from_node,
    ] {
        path.latencies.sort();
    }

    let table_name = table.clone();
    client.run(move || {
        let mut tx = Transaction::new();
        tx.delete_table(&table_name);
        NfSocket::open()?
            .commit(&tx)
            .context("removing the proxy table")
    })?;
    stop.store(true, Ordering::SeqCst);
    listener.stop(&server);
    Ok(())
}

fn merge(total: &mut PathResult, turn: PathResult) {
    total.turn_rates.push(turn.rate());
    total.connections += turn.connections;
    total.errors += turn.errors;
    total.elapsed += turn.elapsed;
    total.latencies.extend(turn.latencies);
}

/// The measured Service (its one endpoint is the listener) and the others, whose endpoints
/// are never reached.
fn services(table: &str, endpoint: SocketAddr) -> (Context, Vec<ServicePort>) {
    // Invariant: both literals are valid CIDRs.
    let cluster_cidr: Ipv4Cidr = "10.42.0.0/16".parse().expect("a valid CIDR");
    let service_cidr: Ipv4Cidr = "10.43.0.0/16".parse().expect("a valid CIDR");
    let ctx = Context {
        table: table.to_string(),
        cluster_cidr,
        service_cidr,
        local_service_ips: Vec::new(),
    };
    let port = |id: String, cluster_ip: Ipv4Addr, backends: Vec<Backend>| ServicePort {
        tag: tag_of(&id),
        id,
        protocol: Protocol::Tcp,
        cluster_ip,
        port: SERVICE_PORT,
        node_port: None,
        external_ips: Vec::new(),
        internal: backends.clone(),
        external: backends,
        external_local: false,
        affinity_seconds: None,
    };
    let SocketAddr::V4(endpoint) = endpoint else {
        unreachable!("the listener is bound to an IPv4 address")
    };
    let backend = Backend {
        ip: *endpoint.ip(),
        port: endpoint.port(),
        local: false,
    };
    let mut ports = vec![
        port(
            "default/from-pod/tcp/80".into(),
            POD_CLUSTER_IP,
            vec![backend.clone()],
        ),
        port(
            "default/from-node/tcp/80".into(),
            NODE_CLUSTER_IP,
            vec![backend],
        ),
    ];
    for i in 0..OTHER_SERVICES {
        // 10.43.1.1 upwards, 250 per /24; endpoints 10.42.x.y, two per Service.
        let (hi, lo) = ((1 + i / 250) as u8, (1 + i % 250) as u8);
        let backend = |n: u8| Backend {
            ip: Ipv4Addr::new(10, 42, hi, lo.wrapping_mul(2).wrapping_add(n)),
            port: 8080,
            local: false,
        };
        ports.push(port(
            format!("default/svc-{i}/tcp/80"),
            Ipv4Addr::new(10, 43, hi, lo),
            vec![backend(0), backend(1)],
        ));
    }
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    (ctx, ports)
}

/// Connects to `target` and closes, from [`connectors`] threads, for `time` or until
/// `limit` connections in all.
fn drive(target: SocketAddr, time: Duration, limit: usize) -> PathResult {
    let started = Instant::now();
    let threads_count = connectors();
    let per_thread = limit / threads_count;
    let threads: Vec<_> = (0..threads_count)
        .map(|_| std::thread::spawn(move || connector(target, started + time, per_thread)))
        .collect();
    let mut result = PathResult::default();
    for t in threads {
        if let Ok(part) = t.join() {
            result.connections += part.connections;
            result.errors += part.errors;
            result.latencies.extend(part.latencies);
        }
    }
    result.elapsed = started.elapsed();
    result
}

fn connector(target: SocketAddr, deadline: Instant, limit: usize) -> PathResult {
    let mut result = PathResult::default();
    while Instant::now() < deadline && result.connections < limit {
        let start = Instant::now();
        match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
            Ok(stream) => {
                close_with_reset(&stream);
                drop(stream);
                result.latencies.push(start.elapsed());
                result.connections += 1;
            }
            Err(_) => result.errors += 1,
        }
    }
    result
}

/// `SO_LINGER` zero: the close sends a reset, so the client keeps no TIME_WAIT socket and
/// its ports last the whole turn.
fn close_with_reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Connections the listener's queue holds (the namespace's `net.core.somaxconn` is 4096).
const ACCEPT_QUEUE: i32 = 4096;

/// A listener in the server namespace that accepts and closes until stopped.
struct TcpListenerIn {
    port: u16,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl TcpListenerIn {
    fn start(ns: &Netns, stop: Arc<AtomicBool>) -> anyhow::Result<TcpListenerIn> {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn(move || {
            let listener = TcpListener::bind((SERVER_IP, 0)).context("binding the listener")?;
            // A deep accept queue: the connectors outnumber the cores, and while this thread
            // waits for one, a full queue of 128 (the standard library's) would drop SYNs and
            // stall every connector for the 1 s SYN retransmission.
            // SAFETY: listen() again on a listening socket only resizes its queue.
            if unsafe { libc::listen(listener.as_raw_fd(), ACCEPT_QUEUE) } != 0 {
                return Err(std::io::Error::last_os_error()).context("resizing the accept queue");
            }
            let _ = port_tx.send(listener.local_addr()?.port());
            while !stop.load(Ordering::SeqCst) {
                // Errors (a connection reset before it was taken) are the client's business.
                let _ = listener.accept();
            }
            Ok(())
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the listener did not start")?;
        Ok(TcpListenerIn { port, thread })
    }

    /// Wakes the accept loop (its stop flag is set) and waits for it.
    fn stop(self, ns: &Netns) {
        let port = self.port;
        let _ = ns.run(move || {
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from((SERVER_IP, port)),
                Duration::from_secs(1),
            );
            Ok(())
        });
        let _ = self.thread.join();
    }
}
