//! The port forward relay driven as kubectl drives it, against a node whose port 80 answers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pod_streams::{PodStreams, PortStreams};
use super::port_forward_relay::{run, Target};
use crate::pod_streams::StreamFuture;
use crate::spdy::frame::{Frame, FrameDecoder};
use crate::spdy::headers::HeaderEncoder;
use crate::spdy::session::data_frame;

/// A node whose port 80 upper-cases what it is sent; every other port refuses.
struct Shouting;

impl PodStreams for Shouting {
    fn logs<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: crate::pod_streams::LogRequest,
    ) -> StreamFuture<'a, mpsc::Receiver<Bytes>> {
        Box::pin(async { Err(super::status::ApiError::internal("no logs")) })
    }

    fn exec<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: Vec<String>,
        _: bool,
        _: bool,
    ) -> StreamFuture<'a, crate::pod_streams::ExecStreams> {
        Box::pin(async { Err(super::status::ApiError::internal("no exec")) })
    }

    fn attach<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: bool,
        _: bool,
    ) -> StreamFuture<'a, crate::pod_streams::ExecStreams> {
        Box::pin(async { Err(super::status::ApiError::internal("no attach")) })
    }

    fn port_forward<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        port: u16,
    ) -> StreamFuture<'a, PortStreams> {
        Box::pin(async move {
            if port != 80 {
                return Err(super::status::ApiError::new(
                    500,
                    "InternalError",
                    format!("connection refused on {port}"),
                ));
            }
            let (to_pod, mut rx) = mpsc::channel::<Bytes>(4);
            let (tx, from_pod) = mpsc::channel(4);
            tokio::spawn(async move {
                while let Some(b) = rx.recv().await {
                    let _ = tx.send(Bytes::from(b.to_ascii_uppercase())).await;
                }
            });
            Ok(PortStreams { to_pod, from_pod })
        })
    }
}

/// kubectl's side of one connection: error stream (closed at once), data stream, `sent`
/// on it, then its end. Returns what came back on each stream until both finished.
async fn forward(port: &str, sent: &'static [u8]) -> (Vec<u8>, Vec<u8>) {
    let (in_tx, in_rx) = mpsc::channel(16);
    let (out_tx, mut out_rx) = mpsc::channel(16);
    let target = Target {
        namespace: "default".into(),
        name: "web".into(),
        uid: "u-1".into(),
        streams: Arc::new(Shouting),
    };
    let session = tokio::spawn(run(in_rx, out_tx, target, CancellationToken::new()));
    let mut h = HeaderEncoder::new().unwrap();
    let mut syn = |id: u32, kind: &str| {
        Frame::SynStream {
            stream_id: id,
            associated: 0,
            priority: 0,
            flags: 0,
            headers: h
                .encode(&[("streamtype", kind), ("port", port), ("requestid", "0")])
                .unwrap(),
        }
        .encode()
        .unwrap()
    };
    in_tx.send(syn(1, "error")).await.unwrap();
    in_tx
        .send(data_frame(1, Bytes::new(), true).unwrap())
        .await
        .unwrap();
    in_tx.send(syn(3, "data")).await.unwrap();
    in_tx
        .send(data_frame(3, Bytes::from_static(sent), false).unwrap())
        .await
        .unwrap();
    let (mut on_error, mut on_data) = (Vec::new(), Vec::new());
    let (mut error_done, mut data_done, mut replies) = (false, false, 0);
    let mut d = FrameDecoder::default();
    while !(error_done && data_done) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), out_rx.recv())
            .await
            .expect("the session answers")
            .expect("the session is open");
        d.push(&chunk);
        while let Some(f) = d.next_frame().unwrap() {
            match f {
                Frame::SynReply { .. } => replies += 1,
                Frame::Data {
                    stream_id: 1,
                    flags,
                    data,
                } => {
                    on_error.extend_from_slice(&data);
                    error_done |= flags & 1 == 1;
                }
                Frame::Data {
                    stream_id: 3,
                    flags,
                    data,
                } => {
                    on_data.extend_from_slice(&data);
                    data_done |= flags & 1 == 1;
                    // the client's end once the answer is in
                    if !data.is_empty() {
                        in_tx
                            .send(data_frame(3, Bytes::new(), true).unwrap())
                            .await
                            .unwrap();
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(replies, 2);
    drop(in_tx);
    session.await.unwrap();
    (on_data, on_error)
}

#[tokio::test]
async fn a_connection_relays_both_ways() {
    let (data, error) = forward("80", b"ping").await;
    assert_eq!(data, b"PING");
    assert!(error.is_empty(), "{}", String::from_utf8_lossy(&error));
}

#[tokio::test]
async fn a_refused_connection_is_reported_on_the_error_stream() {
    let (data, error) = forward("81", b"ping").await;
    assert!(data.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&error),
        "error forwarding port 81 to pod web, uid u-1: connection refused on 81"
    );
}
