//! SPDY/3.1 frames on the wire (draft 3.1, section 2.2): every frame has an 8-byte header —
//! a control bit, then either a version and type (control frames) or a stream id (data
//! frames), then 8 bits of flags and a 24-bit length — followed by its payload. Header blocks
//! stay compressed here; [`super::headers`] reads and writes them with the session's zlib
//! contexts. Lengths are checked before a frame is buffered, so a peer can never make the
//! decoder hold more than one bounded frame.

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol version every control frame carries.
pub const VERSION: u16 = 3;
/// FIN: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// UNIDIRECTIONAL (SYN_STREAM): the receiver may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// The most data one frame may carry here. spdystream writes what `io.Copy` read (32 KiB);
/// the wire allows 16 MiB, which a board need not buffer per connection.
pub const MAX_DATA: usize = 1 << 20;
/// The most a control frame may carry here (its header block is compressed).
pub const MAX_CONTROL: usize = 64 << 10;
/// The largest stream id (31 bits).
pub const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// RST_STREAM and GOAWAY status codes this side sends (section 2.6.3).
pub mod status {
    /// A generic error in the protocol.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// The stream is not active.
    pub const INVALID_STREAM: u32 = 2;
    /// The stream was refused before any processing.
    pub const REFUSED_STREAM: u32 = 3;
    /// The stream is no longer needed.
    pub const CANCEL: u32 = 5;
    /// The sender failed for a reason of its own.
    pub const INTERNAL_ERROR: u32 = 6;
}

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// One frame. Header blocks (`headers`) are the compressed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream.
    SynStream {
        /// The new stream (odd when the client opens it).
        stream_id: u32,
        /// The stream this one belongs to (0: none).
        associated: u32,
        /// 0 (highest) to 7.
        priority: u8,
        /// [`FLAG_FIN`], [`FLAG_UNIDIRECTIONAL`].
        flags: u8,
        /// The compressed header block.
        headers: Bytes,
    },
    /// Accepts a stream.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// [`FLAG_FIN`].
        flags: u8,
        /// The compressed header block.
        headers: Bytes,
    },
    /// Ends a stream abnormally.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why ([`status`]).
        status: u32,
    },
    /// Session settings: `(flags, id, value)` entries.
    Settings {
        /// Frame flags.
        flags: u8,
        /// The entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// A round-trip probe; the receiver echoes the peer's.
    Ping {
        /// Odd from clients, even from servers.
        id: u32,
    },
    /// The sender opens no more streams and accepts none after `last_good`.
    GoAway {
        /// The last stream the sender processed.
        last_good: u32,
        /// Why.
        status: u32,
    },
    /// More headers for a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// [`FLAG_FIN`].
        flags: u8,
        /// The compressed header block.
        headers: Bytes,
    },
    /// Flow-control credit (spdystream neither sends nor honours it).
    WindowUpdate {
        /// The stream.
        stream_id: u32,
        /// Bytes of credit.
        delta: u32,
    },
    /// Stream data.
    Data {
        /// The stream.
        stream_id: u32,
        /// [`FLAG_FIN`].
        flags: u8,
        /// The payload.
        data: Bytes,
    },
    /// A control frame of a type this side does not know, which the protocol says to ignore.
    Unknown {
        /// Its type.
        kind: u16,
    },
}

/// Why bytes are not a frame this side accepts; the session cannot go on after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame longer than this side's limit.
    #[error("a SPDY frame of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A frame whose payload does not fit its type.
    #[error("malformed SPDY {0} frame")]
    Malformed(&'static str),
}

fn stream_id(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & MAX_STREAM_ID
}

fn word(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Splits received bytes into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes held that are not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `None` until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let control = self.buf[0] & 0x80 != 0;
        let flags = self.buf[4];
        let len = usize::from(self.buf[5]) << 16
            | usize::from(self.buf[6]) << 8
            | usize::from(self.buf[7]);
        let limit = if control { MAX_CONTROL } else { MAX_DATA };
        if len > limit {
            return Err(FrameError::TooLarge { len, limit });
        }
        if control {
            let version = u16::from_be_bytes([self.buf[0], self.buf[1]]) & 0x7fff;
            if version != VERSION {
                return Err(FrameError::Version(version));
            }
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let head = self.buf.split_to(8);
        let payload = self.buf.split_to(len).freeze();
        if !control {
            return Ok(Some(Frame::Data {
                stream_id: stream_id(&head),
                flags,
                data: payload,
            }));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        control_frame(kind, flags, payload).map(Some)
    }
}

fn control_frame(kind: u16, flags: u8, p: Bytes) -> Result<Frame, FrameError> {
    let need = |n: usize, what: &'static str| {
        if p.len() < n {
            Err(FrameError::Malformed(what))
        } else {
            Ok(())
        }
    };
    let exactly = |n: usize, what: &'static str| {
        if p.len() == n {
            Ok(())
        } else {
            Err(FrameError::Malformed(what))
        }
    };
    Ok(match kind {
        SYN_STREAM => {
            need(10, "SYN_STREAM")?;
            Frame::SynStream {
                stream_id: stream_id(&p),
                associated: stream_id(&p[4..]),
                priority: p[8] >> 5,
                flags,
                headers: p.slice(10..),
            }
        }
        SYN_REPLY => {
            need(4, "SYN_REPLY")?;
            Frame::SynReply {
                stream_id: stream_id(&p),
                flags,
                headers: p.slice(4..),
            }
        }
        RST_STREAM => {
            exactly(8, "RST_STREAM")?;
            Frame::RstStream {
                stream_id: stream_id(&p),
                status: word(&p[4..]),
            }
        }
        SETTINGS => {
            need(4, "SETTINGS")?;
            let count = usize::try_from(word(&p)).map_err(|_| FrameError::Malformed("SETTINGS"))?;
            if count.checked_mul(8).and_then(|n| n.checked_add(4)) != Some(p.len()) {
                return Err(FrameError::Malformed("SETTINGS"));
            }
            let entries = p[4..]
                .chunks_exact(8)
                .map(|e| {
                    (
                        e[0],
                        u32::from_be_bytes([0, e[1], e[2], e[3]]),
                        word(&e[4..]),
                    )
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        PING => {
            exactly(4, "PING")?;
            Frame::Ping { id: word(&p) }
        }
        GOAWAY => {
            exactly(8, "GOAWAY")?;
            Frame::GoAway {
                last_good: stream_id(&p),
                status: word(&p[4..]),
            }
        }
        HEADERS => {
            need(4, "HEADERS")?;
            Frame::Headers {
                stream_id: stream_id(&p),
                flags,
                headers: p.slice(4..),
            }
        }
        WINDOW_UPDATE => {
            exactly(8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                stream_id: stream_id(&p),
                delta: word(&p[4..]) & MAX_STREAM_ID,
            }
        }
        kind => Frame::Unknown { kind },
    })
}

fn header(out: &mut BytesMut, first: u32, flags: u8, len: usize) -> Result<(), FrameError> {
    if len > 0x00ff_ffff {
        return Err(FrameError::TooLarge {
            len,
            limit: 0x00ff_ffff,
        });
    }
    out.put_u32(first);
    // The length fits in 24 bits (checked above).
    out.put_u32(u32::from(flags) << 24 | len as u32);
    Ok(())
}

fn control_head(kind: u16) -> u32 {
    0x8000_0000 | u32::from(VERSION) << 16 | u32::from(kind)
}

impl Frame {
    /// The frame's bytes; `Err` when its payload is over the wire's 24-bit length.
    pub fn encode(&self) -> Result<Bytes, FrameError> {
        let mut out = BytesMut::new();
        match self {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                header(&mut out, stream_id & MAX_STREAM_ID, *flags, data.len())?;
                out.put_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                flags,
                headers,
            } => {
                header(
                    &mut out,
                    control_head(SYN_STREAM),
                    *flags,
                    10 + headers.len(),
                )?;
                out.put_u32(stream_id & MAX_STREAM_ID);
                out.put_u32(associated & MAX_STREAM_ID);
                out.put_u8((priority & 7) << 5);
                out.put_u8(0);
                out.put_slice(headers);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(self, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                header(&mut out, control_head(kind), *flags, 4 + headers.len())?;
                out.put_u32(stream_id & MAX_STREAM_ID);
                out.put_slice(headers);
            }
            Frame::RstStream { stream_id, status } => {
                header(&mut out, control_head(RST_STREAM), 0, 8)?;
                out.put_u32(stream_id & MAX_STREAM_ID);
                out.put_u32(*status);
            }
            Frame::Settings { flags, entries } => {
                let len = entries
                    .len()
                    .checked_mul(8)
                    .and_then(|n| n.checked_add(4))
                    .ok_or(FrameError::Malformed("SETTINGS"))?;
                header(&mut out, control_head(SETTINGS), *flags, len)?;
                out.put_u32(
                    u32::try_from(entries.len()).map_err(|_| FrameError::Malformed("SETTINGS"))?,
                );
                for (f, id, value) in entries {
                    out.put_u32(u32::from(*f) << 24 | (id & 0x00ff_ffff));
                    out.put_u32(*value);
                }
            }
            Frame::Ping { id } => {
                header(&mut out, control_head(PING), 0, 4)?;
                out.put_u32(*id);
            }
            Frame::GoAway { last_good, status } => {
                header(&mut out, control_head(GOAWAY), 0, 8)?;
                out.put_u32(last_good & MAX_STREAM_ID);
                out.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                header(&mut out, control_head(WINDOW_UPDATE), 0, 8)?;
                out.put_u32(stream_id & MAX_STREAM_ID);
                out.put_u32(delta & MAX_STREAM_ID);
            }
            Frame::Unknown { .. } => return Err(FrameError::Malformed("unknown")),
        }
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(wire: &[u8], split: usize) -> Result<Vec<Frame>, FrameError> {
        let mut d = FrameDecoder::default();
        let mut got = Vec::new();
        for part in [&wire[..split], &wire[split..]] {
            d.push(part);
            while let Some(f) = d.next_frame()? {
                got.push(f);
            }
        }
        assert_eq!(d.buffered(), 0);
        Ok(got)
    }

    fn samples() -> Vec<Frame> {
        vec![
            Frame::SynStream {
                stream_id: 5,
                associated: 0,
                priority: 7,
                flags: FLAG_FIN | FLAG_UNIDIRECTIONAL,
                headers: Bytes::from_static(b"\x78\xbbabc"),
            },
            Frame::SynReply {
                stream_id: 5,
                flags: 0,
                headers: Bytes::from_static(b"xyz"),
            },
            Frame::Headers {
                stream_id: 7,
                flags: FLAG_FIN,
                headers: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 9,
                status: status::CANCEL,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![(1, 4, 100), (0, 7, 65536)],
            },
            Frame::Ping { id: 0xffff_fffe },
            Frame::GoAway {
                last_good: 11,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 3,
                delta: 1024,
            },
            Frame::Data {
                stream_id: MAX_STREAM_ID,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::new(),
            },
        ]
    }

    #[test]
    fn frames_round_trip_through_any_split() {
        let frames = samples();
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend_from_slice(&f.encode().unwrap());
        }
        for split in 0..=wire.len() {
            assert_eq!(
                decode_all(&wire, split).unwrap(),
                frames,
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_data_frame_has_spdystreams_layout() {
        let f = Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"ok"),
        };
        assert_eq!(
            &f.encode().unwrap()[..],
            b"\x00\x00\x00\x03\x01\x00\x00\x02ok"
        );
        let ping = Frame::Ping { id: 1 }.encode().unwrap();
        assert_eq!(
            &ping[..],
            b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"
        );
    }

    #[test]
    fn oversized_frames_are_refused_before_they_are_buffered() {
        let mut d = FrameDecoder::default();
        // a data frame announcing 16 MiB - 1
        d.push(b"\x00\x00\x00\x01\x00\xff\xff\xff");
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut d = FrameDecoder::default();
        d.push(b"\x80\x03\x00\x01\x00\x01\x00\x01");
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn malformed_control_frames_are_rejected() {
        let cases: [&[u8]; 6] = [
            // version 2
            b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01",
            // PING of 3 bytes
            b"\x80\x03\x00\x06\x00\x00\x00\x03\x00\x00\x01",
            // RST_STREAM of 4 bytes
            b"\x80\x03\x00\x03\x00\x00\x00\x04\x00\x00\x00\x01",
            // SYN_STREAM shorter than its fixed part
            b"\x80\x03\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01",
            // SETTINGS claiming two entries with room for one
            b"\x80\x03\x00\x04\x00\x00\x00\x0c\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01",
            // SETTINGS claiming 2^32-1 entries
            b"\x80\x03\x00\x04\x00\x00\x00\x04\xff\xff\xff\xff",
        ];
        for wire in cases {
            let mut d = FrameDecoder::default();
            d.push(wire);
            assert!(d.next_frame().is_err(), "{wire:?}");
        }
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        let mut d = FrameDecoder::default();
        d.push(b"\x80\x03\x00\x05\x00\x00\x00\x02hi");
        assert_eq!(d.next_frame().unwrap(), Some(Frame::Unknown { kind: 5 }));
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // a cheap deterministic fuzz: every prefix of every sample with each byte flipped
        let mut wire = Vec::new();
        for f in samples() {
            wire.extend_from_slice(&f.encode().unwrap());
        }
        for i in 0..wire.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut w = wire.clone();
                w[i] ^= flip;
                let mut d = FrameDecoder::default();
                d.push(&w);
                while let Ok(Some(_)) = d.next_frame() {}
            }
        }
    }
}
