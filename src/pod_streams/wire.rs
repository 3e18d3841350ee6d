//! What the API server and a kubelet on another board say to each other for `kubectl logs`
//! and `kubectl exec`, over HTTP/2 on the kubelet's port (10250) with mutual TLS.
//!
//! - Logs: `GET /containerLogs/{namespace}/{pod}/{container}` with the `pods/log` query
//!   parameters (`follow`, `previous`, `tailLines`, ...), as upstream's kubelet serves it;
//!   the body is the log, streamed.
//! - Exec: `POST /exec/{namespace}/{pod}/{container}?command=...&input=1`. Upstream's kubelet
//!   upgrades this request to SPDY or WebSocket; here one HTTP/2 stream carries both ways
//!   instead: the request body is the process's stdin (its end closes stdin), the response
//!   body a sequence of frames, each a channel byte, a 4-byte big-endian length and the
//!   payload: 1 stdout, 2 stderr, 3 the exit code (4 bytes, big-endian). The API server
//!   relays it to kubectl's WebSocket unchanged in meaning. With `tty=1` the process has a
//!   terminal, and the request body is framed too: 0 typed input, 4 a window size (width
//!   and height, 2 bytes each, big-endian).
//!
//! - Attach: `POST /attach/{namespace}/{pod}/{container}?input=1&tty=1`, exec's exchange
//!   without a command, to the container's own stdio; the exit frame carries 0 when the
//!   container's output has ended.
//!
//! - Port forward: `POST /portForward/{namespace}/{pod}?port=N`, one request per TCP
//!   connection to `localhost:N` in the pod's network namespace: the request body is what
//!   the client sends (its end shuts the connection down for writing), the response body
//!   what the pod's port answers (its end is the pod's). Upstream's kubelet serves the whole
//!   SPDY session here; one HTTP/2 stream per connection lets HTTP/2's flow control pace
//!   each connection on its own.
//!
//! Failures before any output are answered as a `Status`, as everywhere else.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{LogRequest, TerminalSize};
use crate::client::remote::encode;

/// Path prefix of log requests.
pub const LOGS_PREFIX: &str = "/containerLogs/";
/// Path prefix of exec requests.
pub const EXEC_PREFIX: &str = "/exec/";
/// Path prefix of attach requests (as exec's, without a command).
pub const ATTACH_PREFIX: &str = "/attach/";
/// Path prefix of port forward requests.
pub const PORT_FORWARD_PREFIX: &str = "/portForward/";
/// Content type of an exec response body.
pub const EXEC_FRAMES: &str = "application/vnd.bramble.exec-frames";

/// A frame channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The process's standard input (request bodies with a terminal).
    Stdin = 0,
    /// The process's standard output.
    Stdout = 1,
    /// The process's standard error.
    Stderr = 2,
    /// The exit code, once the process has ended.
    Exit = 3,
    /// A terminal size (request bodies with a terminal).
    Resize = 4,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Input for stdin.
    Stdin(Bytes),
    /// A new terminal size.
    Resize(TerminalSize),
    /// Output on stdout.
    Stdout(Bytes),
    /// Output on stderr.
    Stderr(Bytes),
    /// The process ended with this code.
    Exit(i32),
}

/// `channel` with `data` as one frame.
pub fn encode_frame(channel: Channel, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + data.len());
    out.put_u8(channel as u8);
    out.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
    out.put_slice(data);
    out.freeze()
}

/// The resize frame for `size`.
pub fn resize_frame(size: TerminalSize) -> Bytes {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&size.width.to_be_bytes());
    b[2..].copy_from_slice(&size.height.to_be_bytes());
    encode_frame(Channel::Resize, &b)
}

/// The exit frame for `code`.
pub fn exit_frame(code: i32) -> Bytes {
    encode_frame(Channel::Exit, &code.to_be_bytes())
}

/// Reassembles frames from the chunks the body arrives in.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, if one has arrived; `Err` on a frame that cannot be ours.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let channel = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let len = usize::try_from(len).map_err(|_| "frame too large".to_string())?;
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        let payload = self.buf.split_to(len).freeze();
        match channel {
            0 => Ok(Some(Frame::Stdin(payload))),
            4 if payload.len() == 4 => Ok(Some(Frame::Resize(TerminalSize {
                width: u16::from_be_bytes([payload[0], payload[1]]),
                height: u16::from_be_bytes([payload[2], payload[3]]),
            }))),
            1 => Ok(Some(Frame::Stdout(payload))),
            2 => Ok(Some(Frame::Stderr(payload))),
            3 if payload.len() == 4 => Ok(Some(Frame::Exit(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])))),
            other => Err(format!("unknown exec frame channel {other}")),
        }
    }
}

fn target(prefix: &str, namespace: &str, pod: &str, container: &str) -> String {
    format!(
        "{prefix}{}/{}/{}",
        encode(namespace),
        encode(pod),
        encode(container)
    )
}

/// The (namespace, pod, container) a kubelet path under `prefix` names.
pub fn parse_target(path: &str, prefix: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix(prefix)?;
    let parts: Vec<String> = rest.split('/').map(percent_decode).collect();
    match parts.as_slice() {
        [ns, pod, c] if !ns.is_empty() && !pod.is_empty() && !c.is_empty() => {
            Some((ns.clone(), pod.clone(), c.clone()))
        }
        _ => None,
    }
}

fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The path and query of a log request.
pub fn logs_uri(namespace: &str, pod: &str, container: &str, req: &LogRequest) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let numbers = [
        ("tailLines", req.tail_lines),
        ("sinceSeconds", req.since_seconds),
        ("limitBytes", req.limit_bytes),
    ];
    for (flag, on) in [
        ("follow", req.follow),
        ("previous", req.previous),
        ("timestamps", req.timestamps),
    ] {
        if on {
            q.append_pair(flag, "true");
        }
    }
    for (key, n) in numbers {
        if let Some(n) = n {
            q.append_pair(key, &n.to_string());
        }
    }
    if let Some(t) = &req.since_time {
        q.append_pair("sinceTime", t);
    }
    format!(
        "{}?{}",
        target(LOGS_PREFIX, namespace, pod, container),
        q.finish()
    )
}

/// The path and query of an attach request.
pub fn attach_uri(namespace: &str, pod: &str, container: &str, stdin: bool, tty: bool) -> String {
    stream_uri(ATTACH_PREFIX, namespace, pod, container, &[], stdin, tty)
}

/// The path and query of an exec request.
pub fn exec_uri(
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    stdin: bool,
    tty: bool,
) -> String {
    stream_uri(EXEC_PREFIX, namespace, pod, container, command, stdin, tty)
}

fn stream_uri(
    prefix: &str,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    stdin: bool,
    tty: bool,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for arg in command {
        q.append_pair("command", arg);
    }
    if stdin {
        q.append_pair("input", "1");
    }
    if tty {
        q.append_pair("tty", "1");
    }
    format!(
        "{}?{}",
        target(prefix, namespace, pod, container),
        q.finish()
    )
}

/// The path and query of a port forward request.
pub fn port_forward_uri(namespace: &str, pod: &str, port: u16) -> String {
    format!(
        "{PORT_FORWARD_PREFIX}{}/{}?port={port}",
        encode(namespace),
        encode(pod)
    )
}

/// The (namespace, pod, port) of a port forward request's path and query.
pub fn parse_port_forward(path: &str, query: Option<&str>) -> Option<(String, String, u16)> {
    let rest = path.strip_prefix(PORT_FORWARD_PREFIX)?;
    let (ns, pod) = rest.split_once('/')?;
    let (ns, pod) = (percent_decode(ns), percent_decode(pod));
    if ns.is_empty() || pod.is_empty() || pod.contains('/') {
        return None;
    }
    let port = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "port")
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .filter(|p| *p > 0)?;
    Some((ns, pod, port))
}

/// The command, stdin and terminal flags of an exec query.
pub fn parse_exec_query(query: Option<&str>) -> (Vec<String>, bool, bool) {
    let mut command = Vec::new();
    let (mut stdin, mut tty) = (false, false);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "command" => command.push(v.into_owned()),
            "input" => stdin = v == "1" || v == "true",
            "tty" => tty = v == "1" || v == "true",
            _ => {}
        }
    }
    (command, stdin, tty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_chunking() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode_frame(Channel::Stdout, b"hello\n"));
        wire.extend_from_slice(&encode_frame(Channel::Stderr, b""));
        wire.extend_from_slice(&exit_frame(-3));
        wire.extend_from_slice(&encode_frame(Channel::Stdin, b"ls\r"));
        let size = TerminalSize {
            width: 300,
            height: 2,
        };
        wire.extend_from_slice(&resize_frame(size));
        for split in 0..wire.len() {
            let mut d = FrameDecoder::default();
            let mut got = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![
                    Frame::Stdout(Bytes::from_static(b"hello\n")),
                    Frame::Stderr(Bytes::new()),
                    Frame::Exit(-3),
                    Frame::Stdin(Bytes::from_static(b"ls\r")),
                    Frame::Resize(size),
                ],
                "split at {split}"
            );
        }
        let mut d = FrameDecoder::default();
        d.push(&[9, 0, 0, 0, 0]);
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn paths_carry_names_and_arguments_intact() {
        let uri = exec_uri(
            "default",
            "web 1",
            "c",
            &["sh".into(), "-c".into(), "echo a&b".into()],
            true,
            true,
        );
        let (path, query) = uri.split_once('?').unwrap();
        assert_eq!(
            parse_target(path, EXEC_PREFIX),
            Some(("default".into(), "web 1".into(), "c".into()))
        );
        assert_eq!(
            parse_exec_query(Some(query)),
            (
                vec!["sh".to_string(), "-c".into(), "echo a&b".into()],
                true,
                true
            )
        );
        assert_eq!(parse_target("/exec/default/web", EXEC_PREFIX), None);
        let uri = port_forward_uri("default", "web 1", 8080);
        let (path, query) = uri.split_once('?').unwrap();
        assert_eq!(
            parse_port_forward(path, Some(query)),
            Some(("default".into(), "web 1".into(), 8080))
        );
        assert_eq!(parse_port_forward(path, Some("port=0")), None);
        assert_eq!(parse_port_forward(path, Some("port=65536")), None);
        assert_eq!(
            parse_port_forward("/portForward/default", Some(query)),
            None
        );
        let req = LogRequest {
            follow: true,
            tail_lines: Some(5),
            ..Default::default()
        };
        let uri = logs_uri("kube-system", "p", "c", &req);
        assert_eq!(
            uri,
            "/containerLogs/kube-system/p/c?follow=true&tailLines=5"
        );
    }
}
