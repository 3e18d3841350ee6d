//! Phase 3, cluster DNS: queries per second with a fixed number of UDP queries outstanding,
//! for a cluster name and for a cached external name, from Bramble's DNS module and from
//! dnsmasq on the same machine.
//!
//! Everything runs in a namespace of the bench's own, on loopback: a tiny upstream that
//! answers any A query (and counts what it is asked), `bramble::dns::serve` on its own
//! runtime over [`Services`] (1,000 Services), dnsmasq (`--no-resolv --no-hosts`, the
//! cluster name as a `--host-record`, the upstream as its `--server`, its cache on), and the
//! load generator: [`OUTSTANDING`] tasks, each with its own socket and one query in flight.
//! Each external name is asked once before the turns, so both servers answer it from their
//! cache. The four (server, name) pairs take turns.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::dns::{DnsConfig, Upstreams};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::cluster_records::{Services, WEB};
use crate::netns::Netns;

/// Services the cluster holds.
pub const SERVICES: usize = 1000;
/// Queries in flight at once.
pub const OUTSTANDING: usize = 64;
/// How long each (server, name) pair is driven per turn.
pub const TURN: Duration = Duration::from_secs(1);
/// Turns per pair.
pub const TURNS: usize = 6;
/// Answers per pair and turn at most.
const TURN_QUERIES: u64 = 2_000_000;
/// How long one query may wait for its answer before it counts as lost.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// The cluster name asked.
pub const CLUSTER_NAME: &str = "web.default.svc.cluster.local";
/// The external name asked.
pub const EXTERNAL_NAME: &str = "example.org";

const BRAMBLE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5300);
const DNSMASQ: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 5300);
const UPSTREAM: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 5353);
/// What the upstream answers for every name.
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// One (server, name) pair over all its turns.
#[derive(Debug, Default, Clone)]
pub struct Rate {
    /// Answers received (NOERROR with an A record).
    pub answers: u64,
    /// Queries that timed out or got another answer.
    pub failures: u64,
    /// Time driven.
    pub elapsed: Duration,
    /// Answers per second of each turn.
    pub turn_rates: Vec<f64>,
}

impl Rate {
    /// Answers per second.
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.answers as f64 / self.elapsed.as_secs_f64()
    }

    fn add_turn(&mut self, turn: Rate) {
        self.turn_rates.push(turn.per_second());
        self.add(turn);
    }

    fn add(&mut self, other: Rate) {
        self.answers += other.answers;
        self.failures += other.failures;
        self.elapsed += other.elapsed;
    }
}

/// The phase's figures.
#[derive(Debug, Default)]
pub struct DnsLoad {
    /// Bramble, cluster name.
    pub bramble_cluster: Rate,
    /// Bramble, cached external name.
    pub bramble_external: Rate,
    /// dnsmasq, cluster name.
    pub dnsmasq_cluster: Rate,
    /// dnsmasq, cached external name.
    pub dnsmasq_external: Rate,
    /// Queries the upstream received in all (one per server, unless a cache entry expired).
    pub upstream_queries: u64,
    /// `dnsmasq --version`, first line.
    pub dnsmasq_version: String,
    /// Why the phase stopped short, if it did.
    pub error: Option<String>,
}

/// Runs the phase; a failure is reported in [`DnsLoad::error`].
pub fn measure() -> DnsLoad {
    let mut result = DnsLoad {
        dnsmasq_version: dnsmasq_version(),
        ..DnsLoad::default()
    };
    let outcome = Netns::new("dns").and_then(|ns| {
        let upstream_count = Arc::new(AtomicU64::new(0));
        let counted = upstream_count.clone();
        let rates = ns.block_on(move || run(counted))?;
        Ok((rates, upstream_count.load(Ordering::SeqCst)))
    });
    match outcome {
        Ok(([bc, dc, be, de], upstream)) => {
            result.bramble_cluster = bc;
            result.bramble_external = be;
            result.dnsmasq_cluster = dc;
            result.dnsmasq_external = de;
            result.upstream_queries = upstream;
        }
        Err(e) => result.error = Some(format!("{e:#}")),
    }
    result
}

fn dnsmasq_version() -> String {
    Command::new("dnsmasq")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            // "Dnsmasq version 2.90  Copyright (c) …": the name and version.
            let text = String::from_utf8_lossy(&o.stdout);
            let words: Vec<&str> = text.split_whitespace().take(3).collect();
            (words.len() == 3).then(|| format!("dnsmasq {}", words[2]))
        })
        .unwrap_or_else(|| "dnsmasq (version unknown)".into())
}

/// dnsmasq, killed when dropped.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(upstream_count: Arc<AtomicU64>) -> anyhow::Result<[Rate; 4]> {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let upstream = UdpSocket::bind(UPSTREAM)
        .await
        .context("binding the upstream")?;
    tokio::spawn(upstream_responder(
        upstream,
        upstream_count,
        shutdown.clone(),
    ));

    // The server gets a runtime of its own, as in the bramble process; the load generator's
    // tasks stay on this one.
    let server = DnsOnItsOwnRuntime::start(shutdown.clone())?;

    let dnsmasq = Dnsmasq(
        Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--pid-file",
                "--cache-size=1000",
            ])
            .arg(format!("--listen-address={}", DNSMASQ.ip()))
            .arg(format!("--port={}", DNSMASQ.port()))
            .arg(format!("--host-record={CLUSTER_NAME},{}", WEB.1))
            .arg(format!("--server={}#{}", UPSTREAM.ip(), UPSTREAM.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dnsmasq (apt-get install dnsmasq-base)")?,
    );

    // Both answer, and each asks the upstream for the external name once.
    for target in [BRAMBLE, DNSMASQ] {
        for (name, want) in [(CLUSTER_NAME, WEB.1), (EXTERNAL_NAME, UPSTREAM_ANSWER)] {
            first_answer(target, name, want).await?;
        }
    }

    let pairs = [
        (BRAMBLE, CLUSTER_NAME),
        (DNSMASQ, CLUSTER_NAME),
        (BRAMBLE, EXTERNAL_NAME),
        (DNSMASQ, EXTERNAL_NAME),
    ];
    let mut rates: [Rate; 4] = Default::default();
    for _ in 0..TURNS {
        for (i, (target, name)) in pairs.iter().enumerate() {
            rates[i].add_turn(load(*target, name, TURN).await?);
        }
    }
    drop(dnsmasq);
    shutdown.cancel();
    server.stop();
    Ok(rates)
}

/// `bramble::dns::serve` on a two-thread runtime of its own, in the caller's namespace.
struct DnsOnItsOwnRuntime {
    thread: std::thread::JoinHandle<()>,
}

impl DnsOnItsOwnRuntime {
    fn start(shutdown: CancellationToken) -> anyhow::Result<DnsOnItsOwnRuntime> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow::Error::from(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let config = DnsConfig {
                    listen: vec![BRAMBLE],
                    upstreams: Upstreams::Fixed(vec![UPSTREAM]),
                    ..DnsConfig::default()
                };
                match bramble::dns::serve(config, Services::new(SERVICES), shutdown.clone()).await {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(()));
                        shutdown.cancelled().await;
                        server.stopped().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::Error::from(e)));
                    }
                }
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the DNS server did not start")??;
        Ok(DnsOnItsOwnRuntime { thread })
    }

    fn stop(self) {
        let _ = self.thread.join();
    }
}

/// Answers every query with one A record ([`UPSTREAM_ANSWER`], TTL one hour) and counts them.
async fn upstream_responder(socket: UdpSocket, count: Arc<AtomicU64>, stop: CancellationToken) {
    let mut buf = [0u8; 512];
    loop {
        let (len, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
            _ = stop.cancelled() => return,
        };
        count.fetch_add(1, Ordering::SeqCst);
        if let Some(reply) = answer_a(&buf[..len], UPSTREAM_ANSWER, 3600) {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// An answer to `query` (one question) with one A record, or `None` for a malformed query.
fn answer_a(query: &[u8], ip: Ipv4Addr, ttl: u32) -> Option<Vec<u8>> {
    let question_end = question_end(query)?;
    let mut reply = query.get(..question_end)?.to_vec();
    // QR, opcode copied, AA off, RD copied, RA on, NOERROR.
    reply[2] = 0x80 | (query[2] & 0x79);
    reply[3] = 0x80;
    reply[6..8].copy_from_slice(&1u16.to_be_bytes());
    reply[8..12].fill(0);
    reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    reply.extend_from_slice(&ttl.to_be_bytes());
    reply.extend_from_slice(&4u16.to_be_bytes());
    reply.extend_from_slice(&ip.octets());
    Some(reply)
}

/// Where the first question ends (header, name, type, class).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        at += len;
    }
    let end = at + 4;
    (end <= msg.len()).then_some(end)
}

/// A query for the A records of `name` with recursion desired.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Whether `reply` answers query `id` with NOERROR and at least one record.
fn is_answer(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[0..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && reply[3] & 0x0f == 0
        && u16::from_be_bytes([reply[6], reply[7]]) >= 1
}

/// The first answer from `target` for `name` holds `want` (polled: a server just started).
async fn first_answer(target: SocketAddr, name: &str, want: Ipv4Addr) -> anyhow::Result<()> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    socket.connect(target).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    let mut id = 1u16;
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        socket.send(&query(id, name)).await?;
        if let Ok(Ok(len)) =
            tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf)).await
        {
            let reply = &buf[..len];
            if is_answer(reply, id) && reply.ends_with(&want.octets()) {
                return Ok(());
            }
        }
    }
    bail!("{target} gave no answer {want} for {name}")
}

/// Drives `target` with [`OUTSTANDING`] queries for `name` in flight, for `time`.
async fn load(target: SocketAddr, name: &str, time: Duration) -> anyhow::Result<Rate> {
    let started = Instant::now();
    let deadline = started + time;
    let per_task = TURN_QUERIES / OUTSTANDING as u64;
    let mut tasks = Vec::new();
    for t in 0..OUTSTANDING {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        socket.connect(target).await?;
        let name = name.to_string();
        tasks.push(tokio::spawn(async move {
            let mut rate = Rate::default();
            let mut buf = [0u8; 512];
            let mut id = (t as u16).wrapping_mul(1000);
            while Instant::now() < deadline && rate.answers < per_task {
                id = id.wrapping_add(1);
                if socket.send(&query(id, &name)).await.is_err() {
                    rate.failures += 1;
                    continue;
                }
                let answered = loop {
                    match tokio::time::timeout(QUERY_TIMEOUT, socket.recv(&mut buf)).await {
                        // A late answer to an earlier query: read on.
                        Ok(Ok(len)) if buf.get(0..2) != Some(&id.to_be_bytes()[..]) => {
                            let _ = len;
                            continue;
                        }
                        Ok(Ok(len)) => break is_answer(&buf[..len], id),
                        _ => break false,
                    }
                };
                if answered {
                    rate.answers += 1;
                } else {
                    rate.failures += 1;
                }
            }
            rate
        }));
    }
    let mut total = Rate::default();
    for task in tasks {
        total.add(task.await.context("a load task")?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
