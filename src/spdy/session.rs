//! The server side of one SPDY/3.1 session, without I/O: bytes from the client go in, and
//! what they mean comes out as [`Event`]s — streams the client opened (their headers
//! decompressed in order, so the session's zlib context stays in step), data, half-closes,
//! resets — together with the frames the protocol itself answers (PING echoes, resets of
//! streams that break its rules). The frames this side sends on its own streams are made
//! here too, so every header block leaves through the one compression context.
//!
//! As spdystream (which kubectl speaks) does, no flow control is kept: WINDOW_UPDATE and
//! SETTINGS are read and ignored, and nothing waits for window credit.

use std::collections::HashSet;

use bytes::Bytes;

use super::frame::{status, Frame, FrameDecoder, FrameError, FLAG_FIN, FLAG_UNIDIRECTIONAL};
use super::headers::{Header, HeaderDecoder, HeaderEncoder, HeaderError};

/// What the client's bytes meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A frame the session answers by itself; send it.
    Send(Bytes),
    /// The client opened a stream; answer with [`Session::reply`] or [`Session::reset`].
    Opened {
        /// The stream.
        stream_id: u32,
        /// Its headers.
        headers: Vec<Header>,
    },
    /// Data on an open stream.
    Data {
        /// The stream.
        stream_id: u32,
        /// The bytes.
        data: Bytes,
    },
    /// The client sends no more on the stream.
    Finished {
        /// The stream.
        stream_id: u32,
    },
    /// The client reset the stream: send nothing more on it.
    Reset {
        /// The stream.
        stream_id: u32,
    },
    /// The client opens no more streams (GOAWAY); open ones go on.
    GoingAway,
}

/// Why the session cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A frame could not be read.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A header block could not be read or written.
    #[error(transparent)]
    Headers(#[from] HeaderError),
}

/// One session's state: the client's open streams and the two header contexts.
pub struct Session {
    decoder: FrameDecoder,
    headers_in: HeaderDecoder,
    headers_out: HeaderEncoder,
    /// Streams the client may still send on (opened, neither finished nor reset).
    open: HashSet<u32>,
    /// Streams this side has not yet finished or reset.
    live: HashSet<u32>,
    last_client_stream: u32,
    max_streams: usize,
    going_away: bool,
}

impl Session {
    /// A session that holds at most `max_streams` streams at once (more are refused).
    pub fn new(max_streams: usize) -> Result<Self, SessionError> {
        Ok(Session {
            decoder: FrameDecoder::default(),
            headers_in: HeaderDecoder::default(),
            headers_out: HeaderEncoder::new()?,
            open: HashSet::new(),
            live: HashSet::new(),
            last_client_stream: 0,
            max_streams,
            going_away: false,
        })
    }

    /// Reads `chunk` from the client; `Err` ends the session (after [`Session::go_away`]).
    pub fn receive(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SessionError> {
        self.decoder.push(chunk);
        let mut events = Vec::new();
        while let Some(frame) = self.decoder.next_frame()? {
            self.handle(frame, &mut events)?;
        }
        Ok(events)
    }

    fn handle(&mut self, frame: Frame, events: &mut Vec<Event>) -> Result<(), SessionError> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                // Decoded whatever becomes of the stream: the next block builds on this one.
                let headers = self.headers_in.decode(&headers)?;
                self.opened(stream_id, flags, headers, events)?;
            }
            Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => {
                // This side opens no streams, and extra headers mean nothing to port forwarding.
                self.headers_in.decode(&headers)?;
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                // Data on a stream that is not open (reset, finished or never opened) is
                // dropped, as spdystream drops it.
                if !self.open.contains(&stream_id) {
                    return Ok(());
                }
                if !data.is_empty() {
                    events.push(Event::Data { stream_id, data });
                }
                if flags & FLAG_FIN != 0 {
                    self.open.remove(&stream_id);
                    events.push(Event::Finished { stream_id });
                }
            }
            Frame::RstStream { stream_id, .. } => {
                let known = self.open.remove(&stream_id) | self.live.remove(&stream_id);
                if known {
                    events.push(Event::Reset { stream_id });
                }
            }
            Frame::Ping { id } => {
                // Only the client's own pings (odd ids) are echoed; an even one would be an
                // answer to a ping this side never sent.
                if id % 2 == 1 {
                    events.push(Event::Send(Frame::Ping { id }.encode()?));
                }
            }
            Frame::GoAway { .. } => {
                self.going_away = true;
                events.push(Event::GoingAway);
            }
            Frame::Settings { .. } | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
        }
        Ok(())
    }

    fn opened(
        &mut self,
        stream_id: u32,
        flags: u8,
        headers: Vec<Header>,
        events: &mut Vec<Event>,
    ) -> Result<(), SessionError> {
        // Client streams are odd and increase (spdystream's validateStreamId).
        let refusal = if stream_id % 2 == 0 || stream_id <= self.last_client_stream {
            Some(status::PROTOCOL_ERROR)
        } else if self.going_away || self.streams() >= self.max_streams {
            Some(status::REFUSED_STREAM)
        } else {
            None
        };
        if let Some(code) = refusal {
            events.push(Event::Send(rst(stream_id, code)?));
            return Ok(());
        }
        self.last_client_stream = stream_id;
        if flags & FLAG_FIN == 0 {
            self.open.insert(stream_id);
        }
        if flags & FLAG_UNIDIRECTIONAL == 0 {
            self.live.insert(stream_id);
        }
        events.push(Event::Opened { stream_id, headers });
        if flags & FLAG_FIN != 0 {
            events.push(Event::Finished { stream_id });
        }
        Ok(())
    }

    /// Accepts an opened stream: its SYN_REPLY (empty headers, as the kubelet answers).
    pub fn reply(&mut self, stream_id: u32) -> Result<Bytes, SessionError> {
        let headers = self.headers_out.encode(&[])?;
        Ok(Frame::SynReply {
            stream_id,
            flags: 0,
            headers,
        }
        .encode()?)
    }

    /// Ends `stream_id` abnormally with `code` ([`status`]); the client's further frames on
    /// it are dropped.
    pub fn reset(&mut self, stream_id: u32, code: u32) -> Result<Bytes, SessionError> {
        self.open.remove(&stream_id);
        self.live.remove(&stream_id);
        rst(stream_id, code)
    }

    /// Forgets a stream this side has finished (see [`data_frame`]), so its place is free
    /// once the client has finished it too.
    pub fn finished_locally(&mut self, stream_id: u32) {
        self.live.remove(&stream_id);
    }

    /// Stops reading the client's data on `stream_id` (it is finished for this side).
    pub fn stop_reading(&mut self, stream_id: u32) {
        self.open.remove(&stream_id);
    }

    /// Streams the session holds.
    pub fn streams(&self) -> usize {
        self.open.union(&self.live).count()
    }

    /// The GOAWAY that ends the session: `error` when the client broke the protocol.
    pub fn go_away(&self, error: bool) -> Result<Bytes, SessionError> {
        Ok(Frame::GoAway {
            last_good: self.last_client_stream,
            status: u32::from(error),
        }
        .encode()?)
    }
}

fn rst(stream_id: u32, code: u32) -> Result<Bytes, SessionError> {
    Ok(Frame::RstStream {
        stream_id,
        status: code,
    }
    .encode()?)
}

/// A DATA frame: `data` on `stream_id`, and with `fin` the last of it. Needs no header
/// context, so tasks relaying one stream make their own.
pub fn data_frame(stream_id: u32, data: Bytes, fin: bool) -> Result<Bytes, FrameError> {
    Frame::Data {
        stream_id,
        flags: if fin { FLAG_FIN } else { 0 },
        data,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side: frames as spdystream sends them.
    struct Client {
        headers: HeaderEncoder,
    }

    impl Client {
        fn new() -> Self {
            Client {
                headers: HeaderEncoder::new().unwrap(),
            }
        }

        fn open(&mut self, id: u32, h: &[(&str, &str)], flags: u8) -> Bytes {
            Frame::SynStream {
                stream_id: id,
                associated: 0,
                priority: 0,
                flags,
                headers: self.headers.encode(h).unwrap(),
            }
            .encode()
            .unwrap()
        }
    }

    fn data(id: u32, d: &'static [u8], fin: bool) -> Bytes {
        data_frame(id, Bytes::from_static(d), fin).unwrap()
    }

    #[test]
    fn streams_open_carry_data_and_finish() {
        let mut s = Session::new(8).unwrap();
        let mut c = Client::new();
        let mut wire = c
            .open(1, &[("streamtype", "error"), ("port", "80")], 0)
            .to_vec();
        wire.extend_from_slice(&data(1, b"", true));
        wire.extend_from_slice(&c.open(3, &[("streamtype", "data"), ("port", "80")], 0));
        wire.extend_from_slice(&data(3, b"GET /", false));
        let ev = s.receive(&wire).unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Opened {
                    stream_id: 1,
                    headers: vec![
                        ("streamtype".into(), "error".into()),
                        ("port".into(), "80".into())
                    ],
                },
                Event::Finished { stream_id: 1 },
                Event::Opened {
                    stream_id: 3,
                    headers: vec![
                        ("streamtype".into(), "data".into()),
                        ("port".into(), "80".into())
                    ],
                },
                Event::Data {
                    stream_id: 3,
                    data: Bytes::from_static(b"GET /"),
                },
            ]
        );
        // the replies decode in the client's context, one after the other
        let mut client_in = HeaderDecoder::default();
        for id in [1, 3] {
            let mut d = FrameDecoder::default();
            d.push(&s.reply(id).unwrap());
            match d.next_frame().unwrap() {
                Some(Frame::SynReply {
                    stream_id, headers, ..
                }) => {
                    assert_eq!(stream_id, id);
                    assert!(client_in.decode(&headers).unwrap().is_empty());
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            s.receive(
                &Frame::RstStream {
                    stream_id: 3,
                    status: 5
                }
                .encode()
                .unwrap()
            )
            .unwrap(),
            vec![Event::Reset { stream_id: 3 }]
        );
        // data after the reset is dropped
        assert!(s.receive(&data(3, b"late", false)).unwrap().is_empty());
    }

    #[test]
    fn pings_are_echoed_and_bad_streams_refused() {
        let mut s = Session::new(1).unwrap();
        let mut c = Client::new();
        let ping = Frame::Ping { id: 7 }.encode().unwrap();
        assert_eq!(s.receive(&ping).unwrap(), vec![Event::Send(ping.clone())]);
        // an even (server-side) id
        let ev = s.receive(&c.open(2, &[], 0)).unwrap();
        assert_eq!(
            ev,
            vec![Event::Send(rst(2, status::PROTOCOL_ERROR).unwrap())]
        );
        assert!(matches!(
            s.receive(&c.open(5, &[], 0)).unwrap()[0],
            Event::Opened { .. }
        ));
        // a lower id than the last, then one too many
        let ev = s.receive(&c.open(3, &[], 0)).unwrap();
        assert_eq!(
            ev,
            vec![Event::Send(rst(3, status::PROTOCOL_ERROR).unwrap())]
        );
        let ev = s.receive(&c.open(7, &[], 0)).unwrap();
        assert_eq!(
            ev,
            vec![Event::Send(rst(7, status::REFUSED_STREAM).unwrap())]
        );
        // once stream 5 is done both ways there is room again
        s.receive(&data(5, b"", true)).unwrap();
        s.finished_locally(5);
        assert_eq!(s.streams(), 0);
        assert!(matches!(
            s.receive(&c.open(9, &[], 0)).unwrap()[0],
            Event::Opened { .. }
        ));
    }

    #[test]
    fn a_corrupt_header_block_ends_the_session() {
        let mut s = Session::new(4).unwrap();
        let bad = Frame::SynStream {
            stream_id: 1,
            associated: 0,
            priority: 0,
            flags: 0,
            headers: Bytes::from_static(b"\x78\xbbjunk"),
        }
        .encode()
        .unwrap();
        assert!(s.receive(&bad).is_err());
        let away = s.go_away(true).unwrap();
        assert_eq!(
            &away[..],
            b"\x80\x03\x00\x07\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01"
        );
    }
}
