//! The on-disk form of an object. An object's key holds a postcard record that starts with
//! its format byte:
//!
//! - format 1, [`Envelope`]: the revision that wrote the object and its whole JSON.
//! - format 2, [`Head`]: the revision, the JSON's length and how many parts it was cut into;
//!   the parts, [`PART_BYTES`] each (the last may be shorter), live under [`part_key`]s.
//! - format 3, [`Packed`]: the revision, the JSON's length and the JSON deflated (RFC 1951).
//! - format 4, [`PackedHead`]: as format 2, but the parts hold the deflated JSON.
//!
//! This version writes formats 3 and 4 and reads all four, so data directories written by
//! earlier versions keep working. Kubernetes JSON deflates to about a third, and sled keeps
//! every leaf it has touched in memory: deflating cuts what a stored object costs in RAM, on
//! flash and in bytes written per change, for tens of microseconds per write.
//!
//! Cutting large objects keeps every value sled sees small, so sled never moves one out into
//! a blob file: blob files are written without a sync and are not reclaimed when their value
//! is replaced. JSON stays JSON because k8s-openapi types skip absent fields and so do not
//! round-trip through a non-self-describing format.

use std::io::Read;
use std::sync::{Mutex, PoisonError};

use flate2::{read::DeflateDecoder, Compress, Compression, FlushCompress, Status};
use serde::{Deserialize, Serialize};

/// Format of a whole object's JSON in one record.
const INLINE: u8 = 1;
/// Format of a head whose JSON lives in parts.
const CHUNKED: u8 = 2;
/// Format of a whole object's deflated JSON in one record.
const DEFLATED: u8 = 3;
/// Format of a head whose deflated JSON lives in parts.
const DEFLATED_CHUNKED: u8 = 4;

/// The most stored bytes one record holds. sled splits a leaf once it has more than 16
/// entries and moves any page over a quarter of its 512 KiB segment into a blob file; 17
/// parts of 4 KiB with their keys stay far below that. Part of the on-disk format: never
/// change it.
pub const PART_BYTES: usize = 4096;

/// The largest JSON a record may claim to hold, so a corrupt length cannot ask for an
/// allocation the board cannot make: far above any object the store accepts.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

/// One stored object, whole (format 1).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Format version ([`INLINE`]).
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// The object, as JSON.
    pub json: Vec<u8>,
}

/// The record of an object cut into parts (format 2).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Head {
    /// Format version ([`CHUNKED`]).
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// Bytes of JSON in all parts together.
    pub len: u64,
    /// How many parts there are.
    pub parts: u32,
}

/// One stored object, whole and deflated (format 3).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Packed {
    /// Format version ([`DEFLATED`]).
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// Bytes of JSON once inflated.
    pub json_len: u64,
    /// The JSON, deflated.
    pub deflated: Vec<u8>,
}

/// The record of an object whose deflated JSON is cut into parts (format 4).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PackedHead {
    /// Format version ([`DEFLATED_CHUNKED`]).
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// Bytes of JSON once inflated.
    pub json_len: u64,
    /// Bytes of deflated JSON in all parts together.
    pub len: u64,
    /// How many parts there are.
    pub parts: u32,
}

/// How the stored bytes hold the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As it is.
    Json,
    /// Deflated; this many bytes once inflated.
    Deflate {
        /// The JSON's length.
        json_len: u64,
    },
}

/// Where the stored bytes are.
#[derive(Debug, PartialEq)]
pub enum Body {
    /// In the record itself.
    Inline(Vec<u8>),
    /// In `parts` records under [`part_key`]s, `len` bytes in all.
    Parts {
        /// Stored bytes in all parts together.
        len: u64,
        /// How many parts there are.
        parts: u32,
    },
}

/// What an object's key holds, whatever its format.
#[derive(Debug, PartialEq)]
pub struct Record {
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// How the stored bytes hold the JSON.
    pub encoding: Encoding,
    /// Where they are.
    pub body: Body,
}

/// The bytes on disk are not a record this version understands.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Postcard could not read or write it.
    #[error("corrupt object record: {0}")]
    Postcard(#[from] postcard::Error),
    /// Written by a newer format.
    #[error("object record has unknown format {0}")]
    Format(u8),
    /// A part of a chunked object is missing or the parts do not add up to its length.
    #[error("object {key} is missing part {part} of {parts}")]
    MissingPart {
        /// The object's key.
        key: String,
        /// The first part that was not found.
        part: u32,
        /// How many its head names.
        parts: u32,
    },
    /// The deflated JSON does not inflate to the length its record names.
    #[error("corrupt object record: its deflated JSON does not inflate to {json_len} bytes")]
    Inflate {
        /// The length the record names.
        json_len: u64,
    },
    /// An object's JSON is too large to describe (never written by this store).
    #[error("object record is too large")]
    TooLarge,
    /// The deflater refused the JSON (it accepts any bytes, so this is a bug).
    #[error("deflating an object failed: {0}")]
    Deflate(#[from] flate2::CompressError),
}

impl Envelope {
    /// Wraps an object's JSON as format 1 wrote it.
    pub fn new(revision: u64, json: Vec<u8>) -> Self {
        Self {
            format: INLINE,
            revision,
            json,
        }
    }
}

impl Record {
    /// Decodes the bytes under an object's key.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let record = match bytes.first().copied() {
            Some(INLINE) => {
                let e: Envelope = postcard::from_bytes(bytes)?;
                Record {
                    revision: e.revision,
                    encoding: Encoding::Json,
                    body: Body::Inline(e.json),
                }
            }
            Some(CHUNKED) => {
                let h: Head = postcard::from_bytes(bytes)?;
                Record {
                    revision: h.revision,
                    encoding: Encoding::Json,
                    body: Body::Parts {
                        len: h.len,
                        parts: h.parts,
                    },
                }
            }
            Some(DEFLATED) => {
                let p: Packed = postcard::from_bytes(bytes)?;
                Record {
                    revision: p.revision,
                    encoding: Encoding::Deflate {
                        json_len: p.json_len,
                    },
                    body: Body::Inline(p.deflated),
                }
            }
            Some(DEFLATED_CHUNKED) => {
                let h: PackedHead = postcard::from_bytes(bytes)?;
                Record {
                    revision: h.revision,
                    encoding: Encoding::Deflate {
                        json_len: h.json_len,
                    },
                    body: Body::Parts {
                        len: h.len,
                        parts: h.parts,
                    },
                }
            }
            Some(other) => return Err(EnvelopeError::Format(other)),
            None => {
                return Err(EnvelopeError::Postcard(
                    postcard::Error::DeserializeUnexpectedEnd,
                ))
            }
        };
        if let Body::Parts { len, .. } = record.body {
            if len > MAX_JSON_BYTES {
                return Err(EnvelopeError::TooLarge);
            }
        }
        if let Encoding::Deflate { json_len } = record.encoding {
            if json_len > MAX_JSON_BYTES {
                return Err(EnvelopeError::TooLarge);
            }
        }
        Ok(record)
    }

    /// How many parts the object has beside its record (0 when inline).
    pub fn parts(&self) -> u32 {
        match self.body {
            Body::Inline(_) => 0,
            Body::Parts { parts, .. } => parts,
        }
    }
}

impl Encoding {
    /// The object's JSON from the bytes stored for it.
    pub fn json(self, stored: Vec<u8>) -> Result<Vec<u8>, EnvelopeError> {
        let Encoding::Deflate { json_len } = self else {
            return Ok(stored);
        };
        // `decode` bounded json_len by MAX_JSON_BYTES.
        let mut json =
            Vec::with_capacity(usize::try_from(json_len).map_err(|_| EnvelopeError::TooLarge)?);
        DeflateDecoder::new(stored.as_slice())
            .take(json_len.saturating_add(1))
            .read_to_end(&mut json)
            .map_err(|_| EnvelopeError::Inflate { json_len })?;
        if u64::try_from(json.len()).ok() != Some(json_len) {
            return Err(EnvelopeError::Inflate { json_len });
        }
        Ok(json)
    }
}

/// The records to write for an object: what goes under its key, and its parts in order
/// (empty for an object whose deflated JSON fits one record).
pub fn encode(revision: u64, json: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), EnvelopeError> {
    let json_len = u64::try_from(json.len()).map_err(|_| EnvelopeError::TooLarge)?;
    let deflated = deflate(json)?;
    if deflated.len() <= PART_BYTES {
        let record = Packed {
            format: DEFLATED,
            revision,
            json_len,
            deflated,
        };
        return Ok((postcard::to_stdvec(&record)?, Vec::new()));
    }
    let parts: Vec<Vec<u8>> = deflated.chunks(PART_BYTES).map(<[u8]>::to_vec).collect();
    let head = PackedHead {
        format: DEFLATED_CHUNKED,
        revision,
        json_len,
        len: u64::try_from(deflated.len()).map_err(|_| EnvelopeError::TooLarge)?,
        parts: u32::try_from(parts.len()).map_err(|_| EnvelopeError::TooLarge)?,
    };
    Ok((postcard::to_stdvec(&head)?, parts))
}

/// Deflaters kept for the next write. Setting one up allocates and clears about 250 KiB of
/// tables, several times the work of deflating a pod; resetting one clears them in place.
/// At most [`KEPT_DEFLATERS`] are kept (one per core of a small board), so a burst of
/// concurrent writers leaves no more memory behind than that.
static DEFLATERS: Mutex<Vec<Compress>> = Mutex::new(Vec::new());
const KEPT_DEFLATERS: usize = 4;

/// `json` deflated (raw RFC 1951, fastest level).
fn deflate(json: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let kept = DEFLATERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let mut deflater = match kept {
        Some(mut d) => {
            d.reset();
            d
        }
        None => Compress::new(Compression::fast(), false),
    };
    let mut out = Vec::with_capacity(json.len() / 2 + 64);
    loop {
        let done = usize::try_from(deflater.total_in()).map_err(|_| EnvelopeError::TooLarge)?;
        let rest = json.get(done..).unwrap_or_default();
        if deflater.compress_vec(rest, &mut out, FlushCompress::Finish)? == Status::StreamEnd {
            break;
        }
        // `compress_vec` writes only into spare capacity: make room and go on.
        out.reserve(out.capacity().max(64));
    }
    let mut kept = DEFLATERS.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() < KEPT_DEFLATERS {
        kept.push(deflater);
    }
    Ok(out)
}

/// The key of part `index` of the object at `key`. Parts are only ever read by exact key, and
/// `p/` sorts apart from the `o/` range that start-up scans.
pub fn part_key(key: &str, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 7);
    k.extend_from_slice(b"p/");
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(bytes: &[u8], parts: &[Vec<u8>]) -> (u64, Vec<u8>) {
        let record = Record::decode(bytes).unwrap();
        let stored = match record.body {
            Body::Inline(b) => b,
            Body::Parts { len, parts: n } => {
                assert_eq!(n as usize, parts.len());
                assert_eq!(len as usize, parts.iter().map(Vec::len).sum::<usize>());
                parts.concat()
            }
        };
        (record.revision, record.encoding.json(stored).unwrap())
    }

    #[test]
    fn small_objects_are_one_deflated_record() {
        let json = br#"{"metadata":{"name":"a","labels":{"app":"a","tier":"a"}}}"#;
        let (record, parts) = encode(42, json).unwrap();
        assert!(parts.is_empty());
        assert_eq!(record[0], DEFLATED);
        assert_eq!(json_of(&record, &parts), (42, json.to_vec()));
    }

    #[test]
    fn records_of_formats_1_and_2_still_decode() {
        // postcard of Envelope { format: 1, revision: 42, json: "{}" }, as format 1 wrote it.
        let bytes = [1, 42, 2, b'{', b'}'];
        assert_eq!(json_of(&bytes, &[]), (42, b"{}".to_vec()));
        // Head { format: 2, revision: 7, len: 3, parts: 2 }, its JSON in two parts
        let head = [2, 7, 3, 2];
        assert_eq!(
            json_of(&head, &[b"[1".to_vec(), b"]".to_vec()]),
            (7, b"[1]".to_vec())
        );
    }

    #[test]
    fn large_objects_are_deflated_and_cut_into_parts_that_rejoin() {
        // JSON that does not deflate much: a long run of pseudo-random digits
        let mut x: u64 = 1;
        let digits: String = (0..PART_BYTES * 4)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'0' + (x >> 60) as u8 % 10)
            })
            .collect();
        let json = format!(r#"{{"d":"{digits}"}}"#).into_bytes();
        let (record, parts) = encode(7, &json).unwrap();
        assert_eq!(record[0], DEFLATED_CHUNKED);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.len() <= PART_BYTES));
        assert_eq!(json_of(&record, &parts), (7, json));
    }

    /// Deflaters are reused: nothing of one object may leak into the next, whichever
    /// threads write and whatever sizes alternate.
    #[test]
    fn reused_deflaters_carry_nothing_from_one_object_to_the_next() {
        let writers: Vec<_> = (0..6u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..40u64 {
                        let body = if i % 3 == 0 {
                            (0..PART_BYTES * 3)
                                .map(|j| char::from(b'a' + ((j as u64 * 7919 + i + t) % 26) as u8))
                                .collect::<String>()
                        } else {
                            format!("pod-{t}-{i}")
                        };
                        let json = format!(r#"{{"n":"{body}"}}"#).into_bytes();
                        let (record, parts) = encode(i, &json).unwrap();
                        assert_eq!(json_of(&record, &parts), (i, json));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert!(DEFLATERS.lock().unwrap().len() <= KEPT_DEFLATERS);
    }

    #[test]
    fn rejects_truncated_corrupt_and_unknown_records() {
        let (bytes, _) = encode(42, br#"{"a":1}"#).unwrap();
        assert!(Record::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(matches!(
            Record::decode(&[9, 1]),
            Err(EnvelopeError::Format(9))
        ));
        assert!(Record::decode(&[]).is_err());
        // a length no board could allocate is refused before anything is allocated
        let huge = postcard::to_stdvec(&Packed {
            format: DEFLATED,
            revision: 1,
            json_len: u64::MAX,
            deflated: vec![],
        })
        .unwrap();
        assert!(matches!(
            Record::decode(&huge),
            Err(EnvelopeError::TooLarge)
        ));
        // deflated bytes that are not deflate, or inflate to another length
        let lying = Encoding::Deflate { json_len: 3 };
        assert!(matches!(
            lying.json(vec![0xff, 0xff, 0xff]),
            Err(EnvelopeError::Inflate { json_len: 3 })
        ));
        let (bytes, _) = encode(1, b"[1,2,3,4]").unwrap();
        let Body::Inline(deflated) = Record::decode(&bytes).unwrap().body else {
            panic!("not inline")
        };
        assert!(lying.json(deflated).is_err());
    }

    #[test]
    fn part_keys_stay_out_of_the_object_range() {
        let k = part_key("o//pods/default/a", 1);
        assert!(k.starts_with(b"p/o//pods/default/a\0"));
        assert!(part_key("o/x", 1) < part_key("o/x", 2));
    }
}
