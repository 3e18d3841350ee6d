//! The on-disk form of an object: a postcard envelope holding the revision that wrote it and
//! the object's JSON. JSON stays JSON because k8s-openapi types skip absent fields and so do
//! not round-trip through a non-self-describing format.

use serde::{Deserialize, Serialize};

/// Format version; bump on an incompatible change.
const FORMAT: u8 = 1;

/// One stored object.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Format version.
    pub format: u8,
    /// Revision of the write that produced this value.
    pub revision: u64,
    /// The object, as JSON.
    pub json: Vec<u8>,
}

/// The bytes on disk are not an envelope this version understands.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Postcard could not read or write it.
    #[error("corrupt object envelope: {0}")]
    Postcard(#[from] postcard::Error),
    /// Written by a newer format.
    #[error("object envelope has unknown format {0}")]
    Format(u8),
}

impl Envelope {
    /// Wraps an object's JSON.
    pub fn new(revision: u64, json: Vec<u8>) -> Self {
        Self {
            format: FORMAT,
            revision,
            json,
        }
    }

    /// Encodes for disk.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(postcard::to_stdvec(self)?)
    }

    /// Decodes bytes read from disk.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let e: Envelope = postcard::from_bytes(bytes)?;
        if e.format != FORMAT {
            return Err(EnvelopeError::Format(e.format));
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let e = Envelope::new(42, br#"{"a":1}"#.to_vec());
        assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
    }

    #[test]
    fn rejects_truncated_bytes() {
        let bytes = Envelope::new(42, br#"{"a":1}"#.to_vec()).encode().unwrap();
        assert!(Envelope::decode(&bytes[..bytes.len() - 3]).is_err());
    }
}
