//! This node's part of `kubectl port-forward`: one TCP connection to `localhost:<port>` made
//! inside the pod's network namespace, as containerd's CRI `PortForward` makes it (IPv4's
//! loopback first, then IPv6's), relayed to and from a pair of channels. The connect runs on
//! a thread of its own that enters the namespace (`network::netns::run_in`); a socket keeps
//! the namespace it was made in, so the relay then runs on the async runtime like any other.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::network::netns;
use crate::pod_streams::PortStreams;

/// How long a connect to the pod's loopback may take (it is answered at once, or refused).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from the pod's port at a time.
const READ_CHUNK: usize = 16 << 10;
/// Chunks buffered each way per connection.
const CHUNKS: usize = 8;

/// Why no connection to the pod's port was made.
#[derive(Debug, thiserror::Error)]
pub enum PortForwardError {
    /// The pod's namespace is not on this node (not yet set up, or already torn down).
    #[error("the network namespace of pod {pod} is not on this node: {reason}")]
    NoNamespace {
        /// The pod.
        pod: String,
        /// What was found instead.
        reason: String,
    },
    /// Nothing accepted the connection on either loopback address.
    #[error("failed to connect to localhost:{port} inside namespace {namespace:?}, IPv4: {v4} IPv6: {v6}")]
    Refused {
        /// The port.
        port: u16,
        /// The namespace's path.
        namespace: String,
        /// What IPv4's loopback answered.
        v4: String,
        /// What IPv6's loopback answered.
        v6: String,
    },
    /// The thread that enters the namespace could not run.
    #[error("cannot enter the pod's network namespace: {0}")]
    Enter(String),
}

/// Where a pod's connections are made: its own namespace, or the node's for `hostNetwork`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNetns {
    /// The namespace bind-mounted at this path.
    Pinned(PathBuf),
    /// The node's own namespace (the kubelet's).
    Host,
}

/// Connects to `port` on the loopback of `target` and relays the connection.
pub async fn open(target: PodNetns, pod: &str, port: u16) -> Result<PortStreams, PortForwardError> {
    let stream = match target {
        PodNetns::Host => {
            let (v4, v6) = (loopback_v4(port), loopback_v6(port));
            match TcpStream::connect(v4).await {
                Ok(s) => s,
                Err(e4) => {
                    TcpStream::connect(v6)
                        .await
                        .map_err(|e6| PortForwardError::Refused {
                            port,
                            namespace: "host".into(),
                            v4: describe(v4, &e4),
                            v6: describe(v6, &e6),
                        })?
                }
            }
        }
        PodNetns::Pinned(path) => {
            if !netns::is_mounted(&path) {
                return Err(PortForwardError::NoNamespace {
                    pod: pod.to_string(),
                    reason: format!("no namespace mounted at {}", path.display()),
                });
            }
            let std_stream = tokio::task::spawn_blocking(move || connect_in(&path, port))
                .await
                .map_err(|e| PortForwardError::Enter(e.to_string()))??;
            std_stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(std_stream))
                .map_err(|e| PortForwardError::Enter(e.to_string()))?
        }
    };
    Ok(relay(stream))
}

fn loopback_v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn loopback_v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

fn describe(addr: SocketAddr, e: &io::Error) -> String {
    format!("connect to {addr}: {e}")
}

/// Connects from a thread inside the namespace at `path` (blocking).
fn connect_in(path: &Path, port: u16) -> Result<std::net::TcpStream, PortForwardError> {
    let namespace = path.display().to_string();
    let dialled = netns::run_in(path, move || {
        let (v4, v6) = (loopback_v4(port), loopback_v6(port));
        Ok(
            match std::net::TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
                Ok(s) => Ok(s),
                Err(e4) => std::net::TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT)
                    .map_err(|e6| (describe(v4, &e4), describe(v6, &e6))),
            },
        )
    })
    .map_err(|e| PortForwardError::Enter(e.to_string()))?;
    dialled.map_err(|(v4, v6)| PortForwardError::Refused {
        port,
        namespace,
        v4,
        v6,
    })
}

/// Copies between `stream` and a pair of channels: what `to_pod` yields is written (its end
/// shuts the socket down for writing), what the socket reads goes to `from_pod` (its end is
/// the pod's). The socket closes once both sides are done.
pub fn relay(stream: TcpStream) -> PortStreams {
    let (mut reader, mut writer) = stream.into_split();
    let (to_pod, mut inbound) = mpsc::channel::<Bytes>(CHUNKS);
    let (outbound, from_pod) = mpsc::channel::<Bytes>(CHUNKS);
    tokio::spawn(async move {
        while let Some(chunk) = inbound.recv().await {
            if let Err(e) = writer.write_all(&chunk).await {
                tracing::debug!(error = %e, "port forward: writing to the pod failed");
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if outbound.send(chunk).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "port forward: reading from the pod failed");
                    return;
                }
            }
        }
    });
    PortStreams { to_pod, from_pod }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn bytes_flow_both_ways_and_half_closes_carry_over() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // an upper-casing echo server that answers once its input has ended
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got.to_ascii_uppercase()).await.unwrap();
        });
        let PortStreams {
            to_pod,
            mut from_pod,
        } = open(PodNetns::Host, "p", port).await.unwrap();
        to_pod.send(Bytes::from_static(b"hello ")).await.unwrap();
        to_pod.send(Bytes::from_static(b"pod")).await.unwrap();
        drop(to_pod);
        let mut answer = Vec::new();
        while let Some(chunk) = from_pod.recv().await {
            answer.extend_from_slice(&chunk);
        }
        assert_eq!(answer, b"HELLO POD");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_naming_both_loopbacks() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = open(PodNetns::Host, "p", port)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("failed to connect to localhost:{port}")),
            "{e}"
        );
        assert!(
            e.contains("IPv4: connect to 127.0.0.1") && e.contains("IPv6"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_missing_namespace_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(PodNetns::Pinned(dir.path().join("gone")), "default/web", 80)
            .await
            .unwrap_err();
        assert!(matches!(e, PortForwardError::NoNamespace { .. }), "{e}");
    }

    /// Removes the namespace a test made, even when it fails.
    struct Namespace(PathBuf);

    impl Drop for Namespace {
        fn drop(&mut self) {
            let _ = netns::remove(&self.0);
        }
    }

    /// Needs root: the connection reaches a listener that exists only inside a namespace of
    /// its own (its answer proves which one answered).
    #[tokio::test]
    async fn connections_are_made_inside_the_pods_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let ns = Namespace(dir.path().join(format!("pf{}", std::process::id())));
        netns::create(&ns.0).expect("create a network namespace (needs root)");
        let up = std::process::Command::new("nsenter")
            .arg(format!("--net={}", ns.0.display()))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        let listener = netns::run_in(&ns.0, || {
            Ok(std::net::TcpListener::bind("127.0.0.1:0").expect("bind inside"))
        })
        .unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b.map(|c| c + 1)).unwrap();
        });
        let mut conn = open(PodNetns::Pinned(ns.0.clone()), "p", port)
            .await
            .unwrap();
        conn.to_pod.send(Bytes::from_static(b"abcd")).await.unwrap();
        assert_eq!(
            conn.from_pod.recv().await.unwrap(),
            Bytes::from_static(b"bcde")
        );
        server.join().unwrap();
    }
}
