//! The server end to end: `serve` on a loopback port, queried by `dig` (bind9-dnsutils) over
//! UDP and TCP, forwarding to a small upstream responder started in the test, and fed
//! malformed packets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::test_records::{cluster_ip, external, headless, slice, MemoryRecords};
use super::*;

fn records() -> MemoryRecords {
    let mut r = MemoryRecords::new();
    r.services = vec![
        cluster_ip("default", "web", &["10.43.0.20"], &[("http", 80, "TCP")]),
        headless("default", "big", &[]),
        external("default", "ext", "www.example.test"),
    ];
    let addrs: Vec<String> = (0..100)
        .map(|i| format!("10.42.{}.{}", i / 50, i % 50 + 2))
        .collect();
    let eps: Vec<(&str, Option<&str>, Option<bool>)> = addrs
        .iter()
        .map(|a| (a.as_str(), None, Some(true)))
        .collect();
    r.slices = vec![slice("default", "big", &eps, &[])];
    r
}

fn config(upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        upstreams: Upstreams::Fixed(upstreams),
        upstream_timeout: Duration::from_millis(500),
        cache: CacheLimits {
            entries: 100,
            bytes: 1 << 20,
            max_ttl: Duration::from_secs(300),
            max_negative_ttl: Duration::from_secs(60),
        },
        ..Default::default()
    }
}

/// A running server, stopped when dropped.
struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(upstreams: Vec<SocketAddr>) -> Running {
    start_with(config(upstreams)).await
}

async fn start_with(config: DnsConfig) -> Running {
    let shutdown = CancellationToken::new();
    let server = serve(config, records(), shutdown.clone()).await.unwrap();
    Running {
        addr: server.local_addrs()[0],
        shutdown,
    }
}

/// dig's output, or `None` when dig failed (no answer).
async fn try_dig(server: SocketAddr, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=3"])
        .args(args)
        .output()
        .await
        .expect("dig must be installed (apt-get install bind9-dnsutils)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn dig(server: SocketAddr, args: &[&str]) -> String {
    match try_dig(server, args).await {
        Some(text) => text,
        None => panic!("dig {args:?} got no answer"),
    }
}

/// The `status:` of dig's header line.
fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

/// The answer section's records as `name ttl class type data`, whitespace collapsed.
fn answers(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with(";; ANSWER SECTION"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn flags(out: &str) -> Vec<&str> {
    out.split("flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default()
}

/// An upstream resolver stand-in on one loopback port (UDP and TCP): `A 192.0.2.1` for any
/// name, NXDOMAIN with an SOA for `nx.*`, and for `tc.*` a truncated answer over UDP and the
/// full one over TCP. It counts the queries it gets.
struct Upstream {
    addr: SocketAddr,
    udp: Arc<AtomicUsize>,
    tcp: Arc<AtomicUsize>,
    shutdown: CancellationToken,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn upstream_answer(q: &Message, over_udp: bool) -> Vec<u8> {
    let query = q.query().unwrap().clone();
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .add_query(query.clone());
    let name = query.name().to_ascii().to_ascii_lowercase();
    if name.starts_with("nx.") {
        let zone = Name::from_ascii("example.test.").unwrap();
        let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86400, 20);
        m.set_response_code(ResponseCode::NXDomain)
            .add_name_server(Record::from_rdata(zone, 60, RData::SOA(soa)));
    } else if name.starts_with("tc.") && over_udp {
        m.set_truncated(true);
    } else if query.query_type() == RecordType::A {
        m.add_answer(Record::from_rdata(
            query.name().clone(),
            300,
            RData::A(A([192, 0, 2, 1].into())),
        ));
    }
    m.to_vec().unwrap()
}

async fn upstream() -> Upstream {
    let (udp, tcp, addr) = super::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let shutdown = CancellationToken::new();
    let (udp_count, tcp_count) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (count, stop) = (udp_count.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                r = udp.recv_from(&mut buf) => r.unwrap(),
            };
            let q = Message::from_vec(&buf[..n]).unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            udp.send_to(&upstream_answer(&q, true), peer).await.unwrap();
        }
    });
    let (count, stop) = (tcp_count.clone(), shutdown.clone());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tokio::select! {
                _ = stop.cancelled() => return,
                r = tcp.accept() => r.unwrap(),
            };
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.unwrap();
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut buf).await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let answer = upstream_answer(&Message::from_vec(&buf).unwrap(), false);
            let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&answer);
            s.write_all(&framed).await.unwrap();
        }
    });
    Upstream {
        addr,
        udp: udp_count,
        tcp: tcp_count,
        shutdown,
    }
}

/// A loopback port with nothing behind it.
async fn dead_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_names_are_answered_over_udp_and_tcp() {
    let dns = start(Vec::new()).await;
    for transport in ["+notcp", "+tcp"] {
        let out = dig(dns.addr, &[transport, "web.default.svc.cluster.local", "A"]).await;
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(flags(&out).contains(&"aa"), "{out}");
        assert_eq!(
            answers(&out),
            ["web.default.svc.cluster.local. 30 IN A 10.43.0.20"],
            "{out}"
        );
        let out = dig(
            dns.addr,
            &[transport, "nope.default.svc.cluster.local", "A"],
        )
        .await;
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("IN SOA ns.dns.cluster.local. hostmaster.cluster.local."),
            "{out}"
        );
    }
    let out = dig(dns.addr, &["-x", "10.43.0.20"]).await;
    assert_eq!(
        answers(&out),
        ["20.0.43.10.in-addr.arpa. 30 IN PTR web.default.svc.cluster.local."]
    );
    // EDNS is echoed.
    let out = dig(dns.addr, &["+edns=0", "web.default.svc.cluster.local"]).await;
    assert!(
        out.contains("OPT PSEUDOSECTION") && out.contains("udp: 1232"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_is_truncated_over_udp_and_dig_retries_over_tcp() {
    let dns = start(Vec::new()).await;
    // Without EDNS the limit is 512 bytes; with dig's default EDNS, our cap of 1232.
    for edns in ["+noedns", "+edns=0"] {
        let out = dig(dns.addr, &[edns, "big.default.svc.cluster.local", "A"]).await;
        assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert_eq!(answers(&out).len(), 100, "{out}");
    }
    // With +ignore dig keeps the truncated UDP answer: the TC bit is set, and it fits.
    let out = dig(
        dns.addr,
        &["+noedns", "+ignore", "big.default.svc.cluster.local"],
    )
    .await;
    assert!(flags(&out).contains(&"tc"), "{out}");
    let msg_size: usize = out
        .split("MSG SIZE  rcvd: ")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap();
    assert!(msg_size <= 512, "{out}");
    assert!(
        !answers(&out).is_empty() && answers(&out).len() < 100,
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_names_are_forwarded_once_then_served_from_the_cache() {
    let up = upstream().await;
    let dead = dead_port().await;
    // The first upstream does not answer: the second does.
    let dns = start(vec![dead, up.addr]).await;
    let first = dig(dns.addr, &["www.example.test", "A"]).await;
    assert_eq!(status(&first), "NOERROR", "{first}");
    assert_eq!(
        answers(&first),
        ["www.example.test. 300 IN A 192.0.2.1"],
        "{first}"
    );
    assert!(!flags(&first).contains(&"aa"), "{first}");
    let second = dig(dns.addr, &["WWW.example.test", "A"]).await;
    let rr = answers(&second);
    assert_eq!(rr.len(), 1, "{second}");
    // The question keeps the client's case; the cached records keep the upstream's.
    assert!(second.contains(";WWW.example.test."), "{second}");
    assert!(
        rr[0].starts_with("www.example.test. ") && rr[0].ends_with(" IN A 192.0.2.1"),
        "{second}"
    );
    let ttl: u32 = rr[0].split(' ').nth(1).unwrap().parse().unwrap();
    assert!(ttl <= 300, "{second}");
    assert_eq!(
        up.udp.load(Ordering::SeqCst),
        1,
        "the second answer came from the cache"
    );

    // Negative answers are cached too.
    for _ in 0..2 {
        let out = dig(dns.addr, &["nx.example.test"]).await;
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
    }
    assert_eq!(up.udp.load(Ordering::SeqCst), 2);

    // A truncated upstream answer is asked again over TCP.
    let out = dig(dns.addr, &["tc.example.test"]).await;
    assert_eq!(
        answers(&out),
        ["tc.example.test. 300 IN A 192.0.2.1"],
        "{out}"
    );
    assert_eq!(up.tcp.load(Ordering::SeqCst), 1);

    // An ExternalName's target outside the zone is looked up upstream.
    let out = dig(dns.addr, &["ext.default.svc.cluster.local"]).await;
    assert_eq!(
        answers(&out),
        [
            "ext.default.svc.cluster.local. 30 IN CNAME www.example.test.",
            "www.example.test. 300 IN A 192.0.2.1",
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_when_no_upstream_answers() {
    let dns = start(vec![dead_port().await]).await;
    let out = dig(dns.addr, &["www.example.test"]).await;
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    // Cluster names do not need an upstream.
    let out = dig(dns.addr, &["+short", "web.default.svc.cluster.local"]).await;
    assert_eq!(out.trim(), "10.43.0.20");
}

/// A query for `web.default.svc.cluster.local` A with id `id`.
fn query(id: u16) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .add_query(hickory_proto::op::Query::query(
            Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
            RecordType::A,
        ));
    m.to_vec().unwrap()
}

async fn udp_exchange(sock: &UdpSocket, packet: &[u8]) -> Option<Message> {
    sock.send(packet).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Message::from_vec(&buf[..n]).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_formerr_or_nothing_and_the_server_goes_on() {
    let dns = start(Vec::new()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(dns.addr).await.unwrap();

    // Shorter than a header, or a response: nothing is sent back.
    for junk in [&b"\x12\x34garbage"[..], &b"\x01"[..]] {
        sock.send(junk).await.unwrap();
    }
    // A query cut in the middle of its question, and one claiming 65535 questions: FORMERR
    // with the id kept.
    let whole = query(0x4242);
    let cut = udp_exchange(&sock, &whole[..whole.len() - 7])
        .await
        .unwrap();
    assert_eq!(
        (cut.id(), cut.response_code()),
        (0x4242, ResponseCode::FormErr)
    );
    let mut many = query(0x4343);
    many[4..6].copy_from_slice(&[0xff, 0xff]);
    let r = udp_exchange(&sock, &many).await.unwrap();
    assert_eq!((r.id(), r.response_code()), (0x4343, ResponseCode::FormErr));
    // Not a query (a NOTIFY): NOTIMP.
    let mut notify = query(0x4444);
    notify[2] = 4 << 3;
    let r = udp_exchange(&sock, &notify).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::NotImp);
    // Random bytes of every length up to 64: never a panic; a real query still answers.
    let mut seed: u32 = 0x9e37_79b9;
    for len in 0..64usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed & 0x7f) as u8 // QR clear: parsed, not dropped
            })
            .collect();
        sock.send(&bytes).await.unwrap();
    }
    let ok = udp_exchange(&sock, &query(7)).await.unwrap();
    // Earlier FORMERRs may still be queued: read until our answer.
    let mut ok = ok;
    while ok.id() != 7 {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        ok = Message::from_vec(&buf[..n]).unwrap();
    }
    assert_eq!(ok.answers().len(), 1);

    // TCP: a frame of junk is skipped, a frame with a bad count is FORMERR, a frame cut short
    // ends the connection; the next connection is served.
    let mut s = TcpStream::connect(dns.addr).await.unwrap();
    s.write_all(b"\x00\x05junk!").await.unwrap();
    let mut framed = (many.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&many);
    s.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.unwrap();
    let r = Message::from_vec(&buf).unwrap();
    assert_eq!((r.id(), r.response_code()), (0x4343, ResponseCode::FormErr));
    s.write_all(b"\x01\x00short").await.unwrap();
    drop(s);
    let out = dig(
        dns.addr,
        &["+tcp", "+short", "web.default.svc.cluster.local"],
    )
    .await;
    assert_eq!(out.trim(), "10.43.0.20");
    let out = dig(dns.addr, &["+short", "web.default.svc.cluster.local"]).await;
    assert_eq!(out.trim(), "10.43.0.20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_costs_one_timeout_then_the_next_one_is_asked_first() {
    let up = upstream().await;
    // Bound but never answering: each query to it waits for the timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = start(vec![silent.local_addr().unwrap(), up.addr]).await;
    let out = dig(dns.addr, &["+short", "one.example.test"]).await;
    assert_eq!(out.trim(), "192.0.2.1");
    let out = dig(dns.addr, &["+short", "two.example.test"]).await;
    assert_eq!(out.trim(), "192.0.2.1");
    let mut buf = [0u8; 512];
    let mut heard = 0;
    while silent.try_recv(&mut buf).is_ok() {
        heard += 1;
    }
    assert_eq!(heard, 1, "only the first query tried the silent upstream");
    assert_eq!(up.udp.load(Ordering::SeqCst), 2);
}

/// A query for `name` A with id `id`.
fn query_for(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(hickory_proto::op::Query::query(
            Name::from_ascii(name).unwrap(),
            RecordType::A,
        ));
    m.to_vec().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_queries_beyond_the_bound_are_servfail_at_once() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = config(vec![silent.local_addr().unwrap()]);
    cfg.max_forwarded = 1;
    cfg.upstream_timeout = Duration::from_secs(3);
    let dns = start_with(cfg).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(dns.addr).await.unwrap();
    sock.send(&query_for(1, "one.example.test.")).await.unwrap();
    // The first query holds the only place once the upstream has it.
    let mut buf = [0u8; 512];
    tokio::time::timeout(Duration::from_secs(2), silent.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let second = udp_exchange(&sock, &query_for(2, "two.example.test."))
        .await
        .unwrap();
    assert_eq!(
        (second.id(), second.response_code()),
        (2, ResponseCode::ServFail)
    );
    // Cluster names need no place.
    let third = udp_exchange(&sock, &query(3)).await.unwrap();
    assert_eq!((third.id(), third.answers().len()), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_cap_are_closed() {
    let mut cfg = config(Vec::new());
    cfg.max_tcp_connections = 1;
    let dns = start_with(cfg).await;
    let held = TcpStream::connect(dns.addr).await.unwrap();
    // The held connection has its slot once it answered a query.
    let mut held = held;
    let q = query(9);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    held.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    held.read_exact(&mut len).await.unwrap();
    let mut other = TcpStream::connect(dns.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), other.read(&mut byte))
        .await
        .expect("an over-cap connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    drop(held);
    // Once the slot is free, TCP queries are served again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let args = ["+tcp", "+short", "web.default.svc.cluster.local"];
        let out = try_dig(dns.addr, &args).await;
        if out.as_deref().map(str::trim) == Some("10.43.0.20") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
