//! One connection kubectl forwards: made through the node's
//! [`PodStreams`](super::pod_streams::PodStreams) once its error and data streams are both
//! open, relayed both ways on the data stream, and ended as upstream's kubelet ends it — the
//! error, if any, written on the error stream (`error forwarding port 80 to pod web, uid …:
//! …`), then both streams finished (the data stream only if the client has not reset it).

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pod_streams::PortStreams;
use super::port_forward_relay::Target;
use crate::spdy::session::data_frame;

/// One forwarded connection's streams.
pub struct Connection {
    /// The pod.
    pub target: Target,
    /// Its port.
    pub port: u16,
    /// The data stream.
    pub data: u32,
    /// The error stream.
    pub error: u32,
    /// The session's queue of frames for the client.
    pub outgoing: mpsc::Sender<Bytes>,
}

impl Connection {
    /// Connects, relays until the pod's side ends or the client resets the data stream, then
    /// finishes both streams (with the error, if there was one, on the error stream).
    pub async fn run(self, upload: mpsc::Receiver<Bytes>, cancel: CancellationToken) {
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
