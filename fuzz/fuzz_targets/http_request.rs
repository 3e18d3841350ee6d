//! Whole HTTP requests against a real API server running in this process: the server is the
//! one `bramble server --no-agent` runs, on loopback, with its own data directory. Each
//! input is a request — method, path (one of the API's routes or raw bytes), query, media
//! type, extra headers and body — sent over TLS as HTTP/1.1, either with the admin's client
//! certificate (so requests reach the registry, validation, patches and the store) or
//! anonymously. A panic anywhere in the server aborts the process, which libFuzzer reports;
//! a server that stops answering shows up as a timeout.
#![no_main]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use bramble::cli::{Cli, Command};
use bramble::pki::kubeconfig::{Credentials, Kubeconfig};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const PATHS: [&str; 22] = [
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/web",
    "/api/v1/namespaces/default/pods/web/status",
    "/api/v1/namespaces/default/pods/web/log",
    "/api/v1/namespaces/default/pods/web/binding",
    "/api/v1/namespaces/default/pods/web/exec",
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/cfg",
    "/api/v1/namespaces/default/secrets",
    "/api/v1/namespaces/default/services",
    "/api/v1/namespaces/default/events",
    "/api/v1/namespaces/default/persistentvolumeclaims",
    "/api/v1/persistentvolumes",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default/finalize",
    "/api/v1/nodes",
    "/api/v1/nodes/n1/status",
    "/apis/storage.k8s.io/v1/storageclasses",
    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
    "/openapi/v3/api/v1",
    "/bramble/v1/kubelet-serving-certificate",
    "/bramble/v1/join",
];
const MEDIA: [&str; 8] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
];

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    path: u8,
    raw_path: String,
    query: Vec<(String, String)>,
    media: u8,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    anonymous: bool,
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    admin: TlsConnector,
    anonymous: TlsConnector,
}

fuzz_target!(|input: Input| {
    let harness = HARNESS.get_or_init(start);
    let request = render(&input);
    let connector = if input.anonymous {
        &harness.anonymous
    } else {
        &harness.admin
    };
    harness.runtime.block_on(async {
        // A server that cannot answer within this time is stuck: a finding, not noise.
        let exchange = send(harness.addr, connector, &request);
        tokio::time::timeout(Duration::from_secs(20), exchange)
            .await
            .expect("the server answered within 20 s");
    });
});

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Percent-encodes what may not stand in a request target.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Keeps header names and values to what HTTP allows, so the request reaches the server's
/// routing rather than stopping in the HTTP parser every time.
fn header_text(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

fn render(input: &Input) -> Vec<u8> {
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let path = match PATHS.get(usize::from(input.path)) {
        Some(p) => (*p).to_string(),
        None => format!("/{}", encode(&input.raw_path)),
    };
    let query: Vec<String> = input
        .query
        .iter()
        .take(8)
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        MEDIA[usize::from(input.media) % MEDIA.len()],
        input.body.len()
    );
    for (name, value) in input.headers.iter().take(8) {
        let name: String = header_text(name).replace([' ', ':'], "");
        if !name.is_empty() && !name.eq_ignore_ascii_case("content-length") {
            head.push_str(&format!("{name}: {}\r\n", header_text(value)));
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&input.body);
    bytes
}

/// Sends one request and reads the response head (watches stream on; the head is enough).
async fn send(addr: SocketAddr, connector: &TlsConnector, request: &[u8]) {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        panic!("the server stopped accepting connections");
    };
    let name = ServerName::IpAddress(addr.ip().into());
    let Ok(mut tls) = connector.connect(name, tcp).await else {
        return; // refused handshakes (anonymous limits) are the server's choice
    };
    if tls.write_all(request).await.is_err() {
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

fn start() -> Harness {
    let dir: PathBuf = tempfile::tempdir().expect("temp dir").keep();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = server_args(&dir.join("data"), addr);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        if let Err(e) = rt.block_on(bramble::cli::server::run(args)) {
            panic!("the in-process server failed: {e:#}");
        }
    });
    let kubeconfig = dir.join("data").join("admin.kubeconfig");
    let started = std::time::Instant::now();
    while !kubeconfig.exists() || std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the in-process server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kc = Kubeconfig::load(&kubeconfig).expect("admin kubeconfig");
    let Credentials::ClientCertificate { cert_pem, key_pem } = &kc.credentials else {
        panic!("the admin kubeconfig holds a client certificate");
    };
    let http1 = |config: Arc<rustls::ClientConfig>| {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    };
    let admin = bramble::pki::client_tls_config(&kc.ca_pem, Some((cert_pem, key_pem)))
        .expect("admin TLS");
    let anonymous = bramble::pki::client_tls_config(&kc.ca_pem, None).expect("anonymous TLS");
    Harness {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime"),
        addr,
        admin: http1(admin),
        anonymous: http1(anonymous),
    }
}

/// `bramble server --no-agent` arguments, parsed as the command line is, so the harness
/// runs the server exactly as users start it.
fn server_args(data_dir: &Path, addr: SocketAddr) -> bramble::cli::server::ServerArgs {
    let data_dir = data_dir.display().to_string();
    let listen = addr.to_string();
    let cli = <Cli as clap::Parser>::try_parse_from([
        "bramble",
        "server",
        "--no-agent",
        "--data-dir",
        &data_dir,
        "--listen",
        &listen,
    ])
    .expect("server arguments");
    match cli.command {
        Command::Server(args) => *args,
        _ => unreachable!("the arguments name the server command"),
    }
}
