//! The on-disk form of an object. An object's key holds a postcard record that starts with
//! its format byte:
//!
//! - format 1, [`Envelope`]: the revision that wrote the object and its whole JSON. Objects of
//!   at most [`PART_BYTES`] of JSON are written this way, and data directories from before
//!   format 2 hold only these.
//! - format 2, [`Head`]: the revision, the JSON's length and how many parts it was cut into;
//!   the parts, [`PART_BYTES`] each (the last may be shorter), live under [`part_key`]s.
//!
//! Cutting large objects keeps every value sled sees small, so sled never moves one out into
//! a blob file: blob files are written without a sync and are not reclaimed when their value
//! is replaced. JSON stays JSON because k8s-openapi types skip absent fields and so do not
//! round-trip through a non-self-describing format.

use serde::{Deserialize, Serialize};

/// Format of a whole object in one record.
const INLINE: u8 = 1;
/// Format of a head whose JSON lives in parts.
const CHUNKED: u8 = 2;

/// The most JSON one record holds. sled splits a leaf once it has more than 16 entries and
/// moves any page over a quarter of its 512 KiB segment into a blob file; 17 parts of 4 KiB
/// with their keys stay far below that. Part of the on-disk format: never change it.
pub const PART_BYTES: usize = 4096;

/// One stored object, whole.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Format version ([`INLINE`]).
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// The object, as JSON.
    pub json: Vec<u8>,
}

/// The record of an object cut into parts.
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

/// What an object's key holds.
#[derive(Debug, PartialEq)]
pub enum Record {
    /// The whole object.
    Inline(Envelope),
    /// Where to find its parts.
    Chunked(Head),
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
    /// An object's JSON is too large to describe (never written by this store).
    #[error("object record is too large")]
    TooLarge,
}

impl Envelope {
    /// Wraps an object's JSON.
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
        match bytes.first().copied() {
            Some(INLINE) => Ok(Record::Inline(postcard::from_bytes(bytes)?)),
            Some(CHUNKED) => Ok(Record::Chunked(postcard::from_bytes(bytes)?)),
            Some(other) => Err(EnvelopeError::Format(other)),
            None => Err(EnvelopeError::Postcard(
                postcard::Error::DeserializeUnexpectedEnd,
            )),
        }
    }

    /// The revision that wrote the object.
    pub fn revision(&self) -> u64 {
        match self {
            Record::Inline(e) => e.revision,
            Record::Chunked(h) => h.revision,
        }
    }

    /// How many parts the object has beside its record (0 when inline).
    pub fn parts(&self) -> u32 {
        match self {
            Record::Inline(_) => 0,
            Record::Chunked(h) => h.parts,
        }
    }
}

/// The records to write for an object: what goes under its key, and its parts in order
/// (empty for an object small enough to be written whole).
pub fn encode(revision: u64, json: Vec<u8>) -> Result<(Vec<u8>, Vec<Vec<u8>>), EnvelopeError> {
    if json.len() <= PART_BYTES {
        return Ok((
            postcard::to_stdvec(&Envelope::new(revision, json))?,
            Vec::new(),
        ));
    }
    let parts: Vec<Vec<u8>> = json.chunks(PART_BYTES).map(<[u8]>::to_vec).collect();
    let head = Head {
        format: CHUNKED,
        revision,
        len: u64::try_from(json.len()).map_err(|_| EnvelopeError::TooLarge)?,
        parts: u32::try_from(parts.len()).map_err(|_| EnvelopeError::TooLarge)?,
    };
    Ok((postcard::to_stdvec(&head)?, parts))
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

    #[test]
    fn small_objects_are_one_format_1_record() {
        let (record, parts) = encode(42, br#"{"a":1}"#.to_vec()).unwrap();
        assert!(parts.is_empty());
        assert_eq!(
            Record::decode(&record).unwrap(),
            Record::Inline(Envelope::new(42, br#"{"a":1}"#.to_vec()))
        );
    }

    #[test]
    fn records_written_before_parts_existed_still_decode() {
        // postcard of Envelope { format: 1, revision: 42, json: "{}" }, as format 1 wrote it.
        let bytes = [1, 42, 2, b'{', b'}'];
        assert_eq!(
            Record::decode(&bytes).unwrap(),
            Record::Inline(Envelope::new(42, b"{}".to_vec()))
        );
    }

    #[test]
    fn large_objects_are_cut_into_parts_that_rejoin() {
        let json = vec![b'x'; PART_BYTES * 2 + 5];
        let (record, parts) = encode(7, json.clone()).unwrap();
        let Record::Chunked(head) = Record::decode(&record).unwrap() else {
            panic!("not chunked")
        };
        assert_eq!(
            (head.revision, head.len, head.parts),
            (7, json.len() as u64, 3)
        );
        assert!(parts.iter().all(|p| p.len() <= PART_BYTES));
        assert_eq!(parts.concat(), json);
    }

    #[test]
    fn rejects_truncated_and_unknown_records() {
        let (bytes, _) = encode(42, br#"{"a":1}"#.to_vec()).unwrap();
        assert!(Record::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(matches!(
            Record::decode(&[9, 1]),
            Err(EnvelopeError::Format(9))
        ));
        assert!(Record::decode(&[]).is_err());
    }

    #[test]
    fn part_keys_stay_out_of_the_object_range() {
        let k = part_key("o//pods/default/a", 1);
        assert!(k.starts_with(b"p/o//pods/default/a\0"));
        assert!(part_key("o/x", 1) < part_key("o/x", 2));
    }
}
