//! Forwarding of names that are not the cluster's to the node's upstream resolvers, as
//! CoreDNS's `forward` and `cache` plugins do in k3s' Corefile (`forward . /etc/resolv.conf`,
//! `cache 30`): the cache first; then each upstream in turn over UDP, retried over TCP when
//! the answer comes back truncated, each try bounded by a timeout; an answer is cached and
//! handed back, and when every upstream fails the caller answers SERVFAIL. The last upstream
//! that answered is asked first next time, so a dead first `nameserver` costs one timeout,
//! not one per query.
//!
//! Names are logged with `to_ascii` and hickory's errors are not formatted (here and in the
//! handler): both `Display`s print names as Unicode, which links an IDNA table into the binary.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cache::{Answer, Cache, CacheLimits, Key};

/// The EDNS payload size we offer upstreams and clients: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation on every common path.
pub const EDNS_PAYLOAD: u16 = 1232;
/// Receive buffer for an upstream's UDP answer (larger than any payload we offer).
const UDP_BUFFER: usize = 4096;

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub(super) enum ForwardError {
    /// The node has no upstream resolver.
    #[error("no upstream resolver is configured")]
    NoUpstreams,
    /// Every upstream failed; the last failure.
    #[error("no upstream resolver answered (last: {0})")]
    AllFailed(String),
}

/// The upstream resolvers with their cache.
pub(super) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    limits: CacheLimits,
    cache: Mutex<Cache>,
    permits: Arc<Semaphore>,
    /// The index of the upstream that answered last.
    preferred: AtomicUsize,
}

impl Forwarder {
    /// Forwards to `upstreams` in order, each try bounded by `timeout`, with at most
    /// `concurrent` queries out at once.
    pub fn new(
        upstreams: Vec<SocketAddr>,
        timeout: Duration,
        limits: CacheLimits,
        concurrent: usize,
    ) -> Self {
        Forwarder {
            upstreams,
            timeout,
            limits,
            cache: Mutex::new(Cache::new(limits)),
            permits: Arc::new(Semaphore::new(concurrent)),
            preferred: AtomicUsize::new(0),
        }
    }

    /// A place for one more forwarded query, or `None` when all are taken (the caller
    /// answers SERVFAIL at once rather than queueing without bound).
    pub fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// How long answers may be kept.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // Nothing panics while holding the lock (`panic = "abort"` in any case).
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to `name` `qtype`, from the cache or an upstream.
    pub async fn resolve(
        &self,
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
    ) -> Result<Answer, ForwardError> {
        let key = Key {
            name: name.clone(),
            qtype,
            class,
        };
        if let Some(hit) = self.cache().get(&key, Instant::now()) {
            tracing::debug!(name = %name.to_ascii(), ?qtype, "answered from the cache");
            return Ok(hit);
        }
        if self.upstreams.is_empty() {
            return Err(ForwardError::NoUpstreams);
        }
        let mut last = String::new();
        let count = self.upstreams.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        for i in (0..count).map(|k| (first + k) % count) {
            let Some(&upstream) = self.upstreams.get(i) else {
                continue;
            };
            match self.ask(upstream, name, qtype, class).await {
                Ok((msg, bytes)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    let answer = Answer::of(&msg);
                    self.cache()
                        .insert(key, answer.clone(), bytes, Instant::now());
                    return Ok(answer);
                }
                Err(e) => {
                    tracing::warn!(%upstream, name = %name.to_ascii(), ?qtype, error = %e, "upstream resolver failed");
                    last = format!("{upstream}: {e}");
                }
            }
        }
        Err(ForwardError::AllFailed(last))
    }

    /// One upstream: UDP, then TCP if the answer was truncated.
    async fn ask(
        &self,
        upstream: SocketAddr,
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
    ) -> Result<(Message, usize), String> {
        let id: u16 = rand::random();
        let query = query_bytes(id, name, qtype, class)
            .map_err(|_| "cannot encode the query".to_string())?;
        let udp = tokio::time::timeout(self.timeout, ask_udp(upstream, &query, id, name, qtype))
            .await
            .map_err(|_| "timed out over UDP".to_string())??;
        if !udp.0.truncated() {
            return Ok(udp);
        }
        tokio::time::timeout(self.timeout, ask_tcp(upstream, &query, id, name, qtype))
            .await
            .map_err(|_| "timed out over TCP".to_string())?
    }
}

/// Our query to an upstream: recursion desired, EDNS with our payload size.
fn query_bytes(
    id: u16,
    name: &Name,
    qtype: RecordType,
    class: DNSClass,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut q = Query::query(name.clone(), qtype);
    q.set_query_class(class);
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(q);
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec()
}

/// Whether `msg` answers our query `id` for `name` `qtype`.
fn answers(msg: &Message, id: u16, name: &Name, qtype: RecordType) -> bool {
    msg.id() == id
        && msg.message_type() == MessageType::Response
        && msg
            .query()
            .is_some_and(|q| q.name() == name && q.query_type() == qtype)
}

async fn ask_udp(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    qtype: RecordType,
) -> Result<(Message, usize), String> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    // Connected: the kernel drops datagrams from any other source.
    sock.connect(upstream).await.map_err(|e| e.to_string())?;
    sock.send(query).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let Some(packet) = buf.get(..n) else { continue };
        // A stray or forged datagram is skipped; the timeout bounds the wait.
        if let Ok(msg) = Message::from_vec(packet) {
            if answers(&msg, id, name, qtype) {
                return Ok((msg, n));
            }
        }
    }
}

async fn ask_tcp(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    qtype: RecordType,
) -> Result<(Message, usize), String> {
    let mut stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    let msg = Message::from_vec(&buf).map_err(|_| "unparsable answer over TCP".to_string())?;
    if !answers(&msg, id, name, qtype) {
        return Err("the answer over TCP is for another query".into());
    }
    Ok((msg, buf.len()))
}
