//! The `portforward.k8s.io` protocol on a SPDY session, as upstream's kubelet serves it
//! (`pkg/kubelet/cri/streaming/portforward/httpstream.go`): for every connection kubectl
//! accepts locally it opens an error stream and a data stream, both naming the remote `port`
//! and one `requestid`. Once both are there, one connection to the pod's port is made
//! through the node's [`PodStreams`](super::pod_streams::PodStreams); the data stream carries
//! its bytes both ways, and the error stream whatever went wrong
//! (`error forwarding port 80 to pod web, uid …: …`) before both are finished. Pairs left
//! incomplete are given up after upstream's stream creation timeout.
//!
//! The session's own loop only reads: every connection relays on a task of its own, which
//! writes its frames to the shared outgoing queue, so one slow pod slows only its own
//! connection's downloads; what the client sends for a pod that does not read waits on that
//! pod (SPDY as spdystream speaks it has no flow control to refuse it with).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::pod_streams::{PodStreams, PortStreams};
use crate::spdy::frame::status;
use crate::spdy::headers::{self, Header};
use crate::spdy::session::{data_frame, Event, Session};

/// Streams one session may hold at once: 128 forwarded connections.
const MAX_STREAMS: usize = 256;
/// How long a connection's second stream may take to arrive (upstream's default
/// `streamCreationTimeout`).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// How often incomplete pairs are checked.
const PAIR_CHECK: Duration = Duration::from_secs(5);
/// Chunks from the client queued per connection.
const CHUNKS: usize = 8;

/// The pod whose ports a session forwards to.
#[derive(Clone)]
pub struct Target {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid (named in error messages).
    pub uid: String,
    /// Its node's streams.
    pub streams: Arc<dyn PodStreams>,
}

/// One forwarded connection's two streams, while they are being opened.
struct Pair {
    port: u16,
    error: Option<u32>,
    data: Option<u32>,
    /// What the client sent on the data stream before the connection was made.
    early: Option<mpsc::Receiver<Bytes>>,
    since: Instant,
    started: bool,
}

/// A connection's task has ended.
struct Done {
    request: String,
    streams: [Option<u32>; 2],
}

/// Where the client's data on a data stream goes.
struct Inbound {
    tx: mpsc::Sender<Bytes>,
    started: bool,
}

struct Relay {
    session: Session,
    target: Target,
    outgoing: mpsc::Sender<Bytes>,
    pairs: HashMap<String, Pair>,
    inbound: HashMap<u32, Inbound>,
    cancels: HashMap<u32, CancellationToken>,
    done_tx: mpsc::Sender<Done>,
    connections: JoinSet<()>,
}

/// Runs one session: `incoming` is what the client sends (in any chunks), `outgoing` takes
/// whole frames for the client. Ends with the client's side, a protocol error or `shutdown`;
/// connections still open are then dropped.
pub async fn run(
    mut incoming: mpsc::Receiver<Bytes>,
    outgoing: mpsc::Sender<Bytes>,
    target: Target,
    shutdown: CancellationToken,
) {
    let session = match Session::new(MAX_STREAMS) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "port forward session could not start");
            return;
        }
    };
    let (done_tx, mut done_rx) = mpsc::channel(16);
    let mut relay = Relay {
        session,
        target,
        outgoing,
        pairs: HashMap::new(),
        inbound: HashMap::new(),
        cancels: HashMap::new(),
        done_tx,
        connections: JoinSet::new(),
    };
    let mut check = tokio::time::interval(PAIR_CHECK);
    loop {
        tokio::select! {
            chunk = incoming.recv() => {
                let Some(chunk) = chunk else { break };
                if !relay.receive(&chunk).await {
                    break;
                }
            }
            Some(done) = done_rx.recv() => relay.forget(done),
            Some(_) = relay.connections.join_next(), if !relay.connections.is_empty() => {}
            _ = check.tick() => {
                if !relay.expire().await {
                    break;
                }
            }
            _ = shutdown.cancelled() => {
                if let Ok(away) = relay.session.go_away(false) {
                    let _ = relay.outgoing.send(away).await;
                }
                break;
            }
        }
    }
    relay.connections.shutdown().await;
}

impl Relay {
    /// Handles bytes from the client; false when the session is over.
    async fn receive(&mut self, chunk: &[u8]) -> bool {
        let events = match self.session.receive(chunk) {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!(error = %e, "port forward session broken by the client");
                if let Ok(away) = self.session.go_away(true) {
                    let _ = self.outgoing.send(away).await;
                }
                return false;
            }
        };
        for event in events {
            let sent = match event {
                Event::Send(frame) => self.send(frame).await,
                Event::Opened { stream_id, headers } => self.opened(stream_id, &headers).await,
                Event::Data { stream_id, data } => self.data(stream_id, data).await,
                Event::Finished { stream_id } => {
                    // the connection's upload ends with the last of the queued data
                    self.inbound.remove(&stream_id);
                    true
                }
                Event::Reset { stream_id } => {
                    self.inbound.remove(&stream_id);
                    if let Some(cancel) = self.cancels.remove(&stream_id) {
                        cancel.cancel();
                    }
                    self.drop_unstarted(stream_id);
                    true
                }
                Event::GoingAway => true,
            };
            if !sent {
                return false;
            }
        }
        true
    }

    async fn send(&self, frame: Bytes) -> bool {
        self.outgoing.send(frame).await.is_ok()
    }

    /// A stream the client opened: checked as upstream's `httpStreamReceived`, accepted,
    /// and paired with its connection's other stream.
    async fn opened(&mut self, stream_id: u32, headers: &[Header]) -> bool {
        let port = headers::get(headers, "port").and_then(|p| p.parse::<u16>().ok());
        let kind = headers::get(headers, "streamtype");
        let (Some(port), Some(kind @ ("error" | "data"))) = (port.filter(|p| *p > 0), kind) else {
            tracing::debug!(stream_id, ?headers, "port forward stream refused");
            return self.reset(stream_id, status::CANCEL).await;
        };
        // Old clients send no request id: upstream derives one from the stream ids.
        let request = match headers::get(headers, "requestid") {
            Some(id) => id.to_string(),
            None if kind == "error" => stream_id.to_string(),
            None => stream_id.saturating_sub(2).to_string(),
        };
        let pair = self.pairs.entry(request.clone()).or_insert_with(|| Pair {
            port,
            error: None,
            data: None,
            early: None,
            since: Instant::now(),
            started: false,
        });
        let slot = if kind == "error" {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() || pair.port != port {
            return self.reset(stream_id, status::PROTOCOL_ERROR).await;
        }
        *slot = Some(stream_id);
        if kind == "data" {
            let (tx, rx) = mpsc::channel(CHUNKS);
            pair.early = Some(rx);
            self.inbound
                .insert(stream_id, Inbound { tx, started: false });
        }
        match self.session.reply(stream_id) {
            Ok(reply) => {
                if !self.send(reply).await {
                    return false;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "port forward reply failed");
                return false;
            }
        }
        self.start(&request);
        true
    }

    async fn reset(&mut self, stream_id: u32, code: u32) -> bool {
        match self.session.reset(stream_id, code) {
            Ok(frame) => self.send(frame).await,
            Err(_) => false,
        }
    }

    /// Client data for a connection.
    async fn data(&mut self, stream_id: u32, data: Bytes) -> bool {
        let Some(inbound) = self.inbound.get(&stream_id) else {
            // data on an error stream means nothing
            return true;
        };
        if inbound.started {
            if inbound.tx.send(data).await.is_err() {
                self.inbound.remove(&stream_id);
            }
            return true;
        }
        // Before the connection exists, only a little is held.
        if inbound.tx.try_send(data).is_err() {
            self.inbound.remove(&stream_id);
            self.drop_unstarted(stream_id);
            return self.reset(stream_id, status::REFUSED_STREAM).await;
        }
        true
    }

    /// Starts the connection of `request` once both its streams are there.
    fn start(&mut self, request: &str) {
        let Some(pair) = self.pairs.get_mut(request) else {
            return;
        };
        let (Some(error), Some(data), false) = (pair.error, pair.data, pair.started) else {
            return;
        };
        let Some(early) = pair.early.take() else {
            return;
        };
        pair.started = true;
        if let Some(inbound) = self.inbound.get_mut(&data) {
            inbound.started = true;
        }
        let cancel = CancellationToken::new();
        self.cancels.insert(data, cancel.clone());
        let connection = Connection {
            target: self.target.clone(),
            port: pair.port,
            data,
            error,
            outgoing: self.outgoing.clone(),
        };
        let done = Done {
            request: request.to_string(),
            streams: [Some(data), Some(error)],
        };
        let done_tx = self.done_tx.clone();
        self.connections.spawn(async move {
            connection.run(early, cancel).await;
            let _ = done_tx.send(done).await;
        });
    }

    /// Drops the not yet started pair `stream_id` belongs to, resetting its other stream.
    fn drop_unstarted(&mut self, stream_id: u32) {
        let found = self.pairs.iter().find_map(|(request, p)| {
            let mine = p.error == Some(stream_id) || p.data == Some(stream_id);
            (mine && !p.started).then(|| request.clone())
        });
        if let Some(request) = found {
            if let Some(pair) = self.pairs.remove(&request) {
                for id in [pair.error, pair.data].into_iter().flatten() {
                    self.inbound.remove(&id);
                    if id == stream_id {
                        continue;
                    }
                    // the frame is lost if it cannot be made; the client's timeout ends it
                    if let Ok(frame) = self.session.reset(id, status::CANCEL) {
                        let _ = self.outgoing.try_send(frame);
                    }
                }
            }
        }
    }

    /// A connection has ended: its streams and pair are gone.
    fn forget(&mut self, done: Done) {
        self.pairs.remove(&done.request);
        for id in done.streams.into_iter().flatten() {
            self.inbound.remove(&id);
            self.cancels.remove(&id);
            self.session.finished_locally(id);
            self.session.stop_reading(id);
        }
    }

    /// Gives up pairs whose second stream did not come in time; false when the session is
    /// over.
    async fn expire(&mut self) -> bool {
        let late: Vec<String> = self
            .pairs
            .iter()
            .filter(|(_, p)| !p.started && p.since.elapsed() > PAIR_TIMEOUT)
            .map(|(r, _)| r.clone())
            .collect();
        for request in late {
            let Some(pair) = self.pairs.remove(&request) else {
                continue;
            };
            if let Some(error) = pair.error {
                let message = format!("(request={request}) timed out waiting for streams");
                let frames = [
                    data_frame(error, Bytes::from(message), false),
                    data_frame(error, Bytes::new(), true),
                ];
                for frame in frames.into_iter().flatten() {
                    if !self.send(frame).await {
                        return false;
                    }
                }
                self.session.finished_locally(error);
                self.session.stop_reading(error);
            }
            if let Some(data) = pair.data {
                self.inbound.remove(&data);
                if !self.reset(data, status::CANCEL).await {
                    return false;
                }
            }
        }
        true
    }
}

/// One forwarded connection's streams.
struct Connection {
    target: Target,
    port: u16,
    data: u32,
    error: u32,
    outgoing: mpsc::Sender<Bytes>,
}

impl Connection {
    /// Connects, relays until the pod's side ends or the client resets the data stream, then
    /// finishes both streams (with the error, if there was one, on the error stream).
    async fn run(self, upload: mpsc::Receiver<Bytes>, cancel: CancellationToken) {
        let t = &self.target;
        let connected = tokio::select! {
            c = t.streams.port_forward(&t.namespace, &t.name, self.port) => c,
            _ = cancel.cancelled() => return self.finish(None, true).await,
        };
        match connected {
            Ok(streams) => {
                let reset = self.relay(streams, upload, &cancel).await;
                self.finish(None, reset).await;
            }
            Err(e) => {
                let message = format!(
                    "error forwarding port {} to pod {}, uid {}: {}",
                    self.port, t.name, t.uid, e.message
                );
                tracing::debug!(namespace = %t.namespace, "{message}");
                self.finish(Some(message), false).await;
            }
        }
    }

    /// Copies both ways; true when the client reset the data stream.
    async fn relay(
        &self,
        streams: PortStreams,
        mut upload: mpsc::Receiver<Bytes>,
        cancel: &CancellationToken,
    ) -> bool {
        let PortStreams {
            to_pod,
            mut from_pod,
        } = streams;
        // The two directions never wait on each other: a pod that answers while it is sent
        // more must not stall what it is sent.
        let uploading = async move {
            while let Some(chunk) = upload.recv().await {
                if to_pod.send(chunk).await.is_err() {
                    return;
                }
            }
            // dropping `to_pod` shuts the pod's connection down for writing
        };
        let downloading = async {
            while let Some(chunk) = from_pod.recv().await {
                let Ok(frame) = data_frame(self.data, chunk, false) else {
                    return;
                };
                if self.outgoing.send(frame).await.is_err() {
                    return;
                }
            }
        };
        tokio::pin!(uploading, downloading);
        let mut uploaded = false;
        loop {
            tokio::select! {
                () = &mut uploading, if !uploaded => uploaded = true,
                () = &mut downloading => return false,
                _ = cancel.cancelled() => return true,
            }
        }
    }

    /// The message (if any) on the error stream, then the ends of both streams (the data
    /// stream's only when it was not reset).
    async fn finish(&self, message: Option<String>, reset: bool) {
        let mut frames = Vec::new();
        if let Some(m) = message {
            frames.push(data_frame(self.error, Bytes::from(m), false));
        }
        if !reset {
            frames.push(data_frame(self.data, Bytes::new(), true));
        }
        frames.push(data_frame(self.error, Bytes::new(), true));
        for frame in frames.into_iter().flatten() {
            if self.outgoing.send(frame).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_streams::StreamFuture;
    use crate::spdy::frame::{Frame, FrameDecoder};
    use crate::spdy::headers::HeaderEncoder;

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
            Box::pin(async { Err(super::super::status::ApiError::internal("no logs")) })
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
            Box::pin(async { Err(super::super::status::ApiError::internal("no exec")) })
        }

        fn attach<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: bool,
            _: bool,
        ) -> StreamFuture<'a, crate::pod_streams::ExecStreams> {
            Box::pin(async { Err(super::super::status::ApiError::internal("no attach")) })
        }

        fn port_forward<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            port: u16,
        ) -> StreamFuture<'a, PortStreams> {
            Box::pin(async move {
                if port != 80 {
                    return Err(super::super::status::ApiError::new(
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
}
