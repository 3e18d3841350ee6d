//! The `portforward.k8s.io` protocol on a SPDY session, as upstream's kubelet serves it
//! (`pkg/kubelet/cri/streaming/portforward/httpstream.go`): for every connection kubectl
//! accepts locally it opens an error stream and a data stream, both naming the remote `port`
//! and one `requestid`. Once both are there, one connection to the pod's port is made
//! through the node's [`PodStreams`](super::pod_streams::PodStreams); the data stream carries
//! its bytes both ways, and the error stream whatever went wrong
//! (`error forwarding port 80 to pod web, uid …: …`) before both are finished. Pairs left
//! incomplete are given up after upstream's stream creation timeout.
//!
//! The session's own loop only reads: every connection relays on a task of its own
//! ([`port_forward_connection`](super::port_forward_connection)), which writes its frames to
//! the shared outgoing queue, so one slow pod slows only its own
//! connection's downloads; what the client sends for a pod that does not read waits on that
//! pod (SPDY as spdystream speaks it has no flow control to refuse it with).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::pod_streams::PodStreams;
use super::port_forward_connection::Connection;
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
