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

/// The next frame the session sends, within a deadline.
async fn next_frame(out: &mut mpsc::Receiver<Bytes>, d: &mut FrameDecoder) -> Frame {
    loop {
        if let Some(f) = d.next_frame().unwrap() {
            return f;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), out.recv())
            .await
            .expect("the session answers")
            .expect("the session is open");
        d.push(&chunk);
    }
}

#[tokio::test]
async fn bad_streams_are_refused_and_a_client_reset_ends_the_connection() {
    let (in_tx, in_rx) = mpsc::channel(16);
    let (out_tx, mut out) = mpsc::channel(16);
    let target = Target {
        namespace: "default".into(),
        name: "web".into(),
        uid: "u-1".into(),
        streams: Arc::new(Shouting),
    };
    let session = tokio::spawn(run(in_rx, out_tx, target, CancellationToken::new()));
    let mut h = HeaderEncoder::new().unwrap();
    let mut syn = |id: u32, headers: &[(&str, &str)]| {
        let headers = h.encode(headers).unwrap();
        Frame::SynStream {
            stream_id: id,
            associated: 0,
            priority: 0,
            flags: 0,
            headers,
        }
        .encode()
        .unwrap()
    };
    let mut d = FrameDecoder::default();
    // no port, then a stream type upstream does not know
    for (id, headers) in [
        (1, vec![("streamtype", "data")]),
        (3, vec![("streamtype", "stdin"), ("port", "80")]),
    ] {
        in_tx.send(syn(id, &headers)).await.unwrap();
        match next_frame(&mut out, &mut d).await {
            Frame::RstStream { stream_id, .. } => assert_eq!(stream_id, id),
            other => panic!("{other:?}"),
        }
    }
    let pair = |kind| [("streamtype", kind), ("port", "80"), ("requestid", "7")];
    in_tx.send(syn(5, &pair("error"))).await.unwrap();
    in_tx.send(syn(7, &pair("data"))).await.unwrap();
    in_tx
        .send(data_frame(7, Bytes::from_static(b"a"), false).unwrap())
        .await
        .unwrap();
    for id in [5, 7] {
        assert!(
            matches!(next_frame(&mut out, &mut d).await, Frame::SynReply { stream_id, .. } if stream_id == id)
        );
    }
    match next_frame(&mut out, &mut d).await {
        Frame::Data {
            stream_id: 7, data, ..
        } => assert_eq!(&data[..], b"A"),
        other => panic!("{other:?}"),
    }
    // kubectl resets the data stream once it is done with it; the error stream then ends,
    // and nothing more is sent on the data stream
    let reset = Frame::RstStream {
        stream_id: 7,
        status: 5,
    };
    in_tx.send(reset.encode().unwrap()).await.unwrap();
    match next_frame(&mut out, &mut d).await {
        Frame::Data {
            stream_id: 5,
            flags,
            data,
        } => assert!(flags & 1 == 1 && data.is_empty()),
        other => panic!("{other:?}"),
    }
    drop(in_tx);
    session.await.unwrap();
    while let Ok(chunk) = out.try_recv() {
        d.push(&chunk);
    }
    while let Some(f) = d.next_frame().unwrap() {
        assert!(
            !matches!(f, Frame::Data { stream_id: 7, .. }),
            "data after the reset: {f:?}"
        );
    }
}
