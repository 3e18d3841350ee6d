//! Raw client sockets for tests of the listeners: TCP from chosen local addresses, TLS with a
//! kubeconfig's credentials, hand-written HTTP/1.1, and floods of connections that never
//! authenticate.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bramble::pki::client_tls_config;
use bramble::pki::kubeconfig::{Credentials, Kubeconfig};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::Cluster;

/// A TLS connection over a blocking socket.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

pub fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to the server on `port` from `127.0.0.<from>`.
pub fn tcp_from(port: u16, from: u8) -> std::io::Result<TcpStream> {
    connect(loopback(from), SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A TCP connection to `server` from the local address `from`.
pub fn connect(from: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = runtime().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let s = tokio::time::timeout(Duration::from_secs(5), socket.connect(server))
            .await
            .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))??;
        s.into_std()
    })?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether the server still holds `s` open (no EOF, no reset).
pub fn is_open(s: &TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let open = match s.peek(&mut [0u8; 1]) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == ErrorKind::WouldBlock,
    };
    let _ = s.set_nonblocking(false);
    open
}

/// How long the server took to close `s` (reading and discarding whatever it sends), or
/// `None` if it still held it open after `limit`.
pub fn closed_after(s: &mut dyn Read, started: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// TLS from `127.0.0.<from>` with the credentials of `kubeconfig` (a client certificate, or
/// none), speaking HTTP/1.1.
pub fn tls_from(port: u16, from: u8, kubeconfig: &Path) -> Tls {
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    try_tls(loopback(from), server, kubeconfig).expect("TLS connection")
}

/// [`tls_from`], or `None` when the server closed the connection first (a flood's
/// connections may be evicted during their handshake).
pub fn try_tls(from: IpAddr, server: SocketAddr, kubeconfig: &Path) -> Option<Tls> {
    let kc = Kubeconfig::load(kubeconfig).expect("kubeconfig");
    let cert = match &kc.credentials {
        Credentials::ClientCertificate { cert_pem, key_pem } => {
            Some((cert_pem.as_str(), key_pem.as_str()))
        }
        _ => None,
    };
    let mut config = (*client_tls_config(&kc.ca_pem, cert).expect("tls config")).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("tls client");
    let tcp = connect(from, server).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    Some(tls)
}

/// An HTTP/1.1 response: status, head, body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

pub fn read_reply(s: &mut dyn Read) -> Reply {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("read response");
        assert!(n > 0, "connection closed before a response: {data:?}");
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let status = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = s.read(&mut buf).expect("read body");
        assert!(n > 0, "connection closed inside the body");
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
    Reply { status, head, body }
}

pub fn request(tls: &mut Tls, method: &str, path: &str, body: &str) -> Reply {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).expect("send request");
    tls.flush().expect("flush");
    read_reply(tls)
}

/// Keeps `per_address` connections of one kind open from each address, reopening the ones
/// the server closes, until `stop`; counts what it opened.
pub fn flood(
    target: Target,
    addresses: Vec<IpAddr>,
    per_address: usize,
    kind: fn(&Target, IpAddr) -> Option<TcpStream>,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut slots: Vec<(IpAddr, Option<TcpStream>)> = addresses
            .into_iter()
            .flat_map(|a| std::iter::repeat(a).take(per_address))
            .map(|a| (a, None))
            .collect();
        while !stop.load(Ordering::Relaxed) {
            for (from, slot) in slots.iter_mut() {
                if slot.as_ref().is_some_and(is_open) {
                    continue;
                }
                *slot = kind(&target, *from);
                if slot.is_some() {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Where a flood goes.
#[derive(Clone)]
pub struct Target {
    pub server: SocketAddr,
    /// A kubeconfig without credentials, for TLS connections.
    pub anonymous: std::path::PathBuf,
}

impl Target {
    pub fn api(c: &Cluster) -> Target {
        Target {
            server: SocketAddr::from(([127, 0, 0, 1], c.port)),
            anonymous: c.dir.path().join("anonymous.kubeconfig"),
        }
    }
}

pub fn loopbacks(range: std::ops::RangeInclusive<u8>) -> Vec<IpAddr> {
    range.map(loopback).collect()
}

pub fn idle_tcp(t: &Target, from: IpAddr) -> Option<TcpStream> {
    connect(from, t.server).ok()
}

/// TLS without a client certificate, then nothing.
pub fn idle_tls(t: &Target, from: IpAddr) -> Option<TcpStream> {
    let tls = try_tls(from, t.server, &t.anonymous)?;
    Some(tls.sock)
}

/// TLS, then half a request head.
pub fn half_header(t: &Target, from: IpAddr) -> Option<TcpStream> {
    let mut tls = try_tls(from, t.server, &t.anonymous)?;
    tls.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .ok()?;
    Some(tls.sock)
}

/// A kubeconfig without credentials, for connections that never authenticate.
pub fn anonymous_kubeconfig(c: &Cluster) {
    let mut kc = Kubeconfig::load(&c.kubeconfig()).expect("admin kubeconfig");
    kc.credentials = Credentials::None;
    kc.write(&c.dir.path().join("anonymous.kubeconfig"))
        .expect("write kubeconfig");
}
