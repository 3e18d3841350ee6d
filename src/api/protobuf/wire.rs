//! The protobuf wire format, read without a schema: a cursor that yields `(field number,
//! value)` pairs, with every length checked against the remaining input so hostile bodies end
//! in an error rather than a panic. Mirrors what gogo-protobuf's generated `Unmarshal` and
//! `skipGenerated` accept for Kubernetes' proto2 messages.

use thiserror::Error;

/// A malformed wire encoding; texts follow gogo-protobuf's where it has one.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside a tag, a varint or a length-delimited value.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A varint ran past ten bytes (64 bits).
    #[error("proto: integer overflow")]
    IntegerOverflow,
    /// A length prefix larger than the rest of the input or than an `int`.
    #[error("proto: negative length found during unmarshaling")]
    InvalidLength,
    /// Field number zero is never valid.
    #[error("proto: illegal tag 0 (wire type {0})")]
    IllegalTag(u8),
    /// Wire types 6 and 7 do not exist.
    #[error("proto: illegal wireType {0}")]
    IllegalWireType(u8),
    /// An end-group marker without its start, or a group that never ends.
    #[error("proto: unexpected end of group")]
    UnexpectedEndOfGroup,
}

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, embedded messages and packed repeated scalars.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
    /// Wire type 3, a proto1 group; its content is skipped.
    Group,
}

impl WireValue<'_> {
    /// The wire type number, for error messages.
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Group => 3,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// A cursor over one encoded message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether all input has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads one base-128 varint.
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        // Ten bytes at most, as gogo's `shift >= 64` check allows.
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(WireError::UnexpectedEof)?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::IntegerOverflow)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::InvalidLength)?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(WireError::UnexpectedEof)?;
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads the next field, or `None` at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let (number, wire) = self.tag()?;
        Ok(Some((number, self.value(wire)?)))
    }

    fn tag(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        // Field numbers are 29 bits; gogo reads them as int32 and rejects anything <= 0.
        let wire = (key & 7) as u8;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::IntegerOverflow)?;
        if number == 0 {
            return Err(WireError::IllegalTag(wire));
        }
        Ok((number, wire))
    }

    fn value(&mut self, wire: u8) -> Result<WireValue<'a>, WireError> {
        match wire {
            0 => Ok(WireValue::Varint(self.varint()?)),
            1 => Ok(WireValue::Fixed64(u64::from_le_bytes(self.fixed()?))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::InvalidLength)?;
                if len > i32::MAX as usize {
                    return Err(WireError::InvalidLength);
                }
                Ok(WireValue::Bytes(self.take(len)?))
            }
            3 => {
                self.skip_group()?;
                Ok(WireValue::Group)
            }
            4 => Err(WireError::UnexpectedEndOfGroup),
            5 => Ok(WireValue::Fixed32(u32::from_le_bytes(self.fixed()?))),
            w => Err(WireError::IllegalWireType(w)),
        }
    }

    /// Skips a group's content up to its matching end marker, counting nesting without
    /// recursion, as `skipGenerated` does.
    fn skip_group(&mut self) -> Result<(), WireError> {
        let mut depth = 1usize;
        while depth > 0 {
            if self.is_empty() {
                return Err(WireError::UnexpectedEof);
            }
            let (_, wire) = self.tag()?;
            match wire {
                3 => depth += 1,
                4 => depth -= 1,
                w => {
                    self.value(w)?;
                }
            }
        }
        Ok(())
    }
}

/// Splits a packed repeated varint field into its values.
pub fn packed_varints(bytes: &[u8]) -> Result<Vec<u64>, WireError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.varint()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 300, field 2 fixed64, field 3 "hi", field 4 fixed32.
        let mut buf = vec![0x08, 0xac, 0x02, 0x11];
        buf.extend_from_slice(&7u64.to_le_bytes());
        buf.extend_from_slice(&[0x1a, 2, b'h', b'i', 0x25]);
        buf.extend_from_slice(&9u32.to_le_bytes());
        let mut r = Reader::new(&buf);
        assert_eq!(r.field().unwrap(), Some((1, WireValue::Varint(300))));
        assert_eq!(r.field().unwrap(), Some((2, WireValue::Fixed64(7))));
        assert_eq!(r.field().unwrap(), Some((3, WireValue::Bytes(b"hi"))));
        assert_eq!(r.field().unwrap(), Some((4, WireValue::Fixed32(9))));
        assert_eq!(r.field().unwrap(), None);
    }

    #[test]
    fn skips_groups_and_rejects_stray_ends() {
        // field 5 start group { field 1 varint 1 } end group, then field 2 varint 3.
        let buf = [0x2b, 0x08, 0x01, 0x2c, 0x10, 0x03];
        let mut r = Reader::new(&buf);
        assert_eq!(r.field().unwrap(), Some((5, WireValue::Group)));
        assert_eq!(r.field().unwrap(), Some((2, WireValue::Varint(3))));
        assert_eq!(
            Reader::new(&[0x2c]).field(),
            Err(WireError::UnexpectedEndOfGroup)
        );
        assert_eq!(
            Reader::new(&[0x2b, 0x08]).field(),
            Err(WireError::UnexpectedEof)
        );
    }

    #[test]
    fn hostile_lengths_and_varints_are_errors() {
        assert_eq!(
            Reader::new(&[0x0a, 0x05, b'a']).field(),
            Err(WireError::UnexpectedEof)
        );
        let huge = [
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(Reader::new(&huge).field(), Err(WireError::InvalidLength));
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(Reader::new(&long).field(), Err(WireError::IntegerOverflow));
        assert_eq!(Reader::new(&[0x00]).field(), Err(WireError::IllegalTag(0)));
        assert_eq!(
            Reader::new(&[0x0e]).field(),
            Err(WireError::IllegalWireType(6))
        );
    }

    #[test]
    fn packed_varints_split() {
        assert_eq!(packed_varints(&[1, 0xac, 0x02]).unwrap(), vec![1, 300]);
        assert_eq!(packed_varints(&[0x80]), Err(WireError::UnexpectedEof));
    }
}
