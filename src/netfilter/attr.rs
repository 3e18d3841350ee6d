//! Netlink message and attribute encoding into one growing buffer: `nlmsghdr` + `nfgenmsg`
//! headers, attributes (type, length, value, padded to 4 bytes) and nested attributes whose
//! length is patched when they close. nf_tables reads its integers in network byte order, so
//! [`Writer::u32`] and [`Writer::u64`] write big-endian; register contents (addresses, ports,
//! marks) are raw bytes whose order the caller chose.

use super::uapi::{NFNETLINK_V0, NLA_F_NESTED};

/// Attribute header length (`struct nlattr`).
const NLA_HDRLEN: usize = 4;

/// Netlink's 4-byte alignment.
pub(crate) fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A buffer of netlink messages being written.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
    /// An attribute exceeded the 64 KiB its length field can express, so the bytes are not a
    /// valid message.
    overflowed: bool,
}

/// Where a message or nested attribute started, to patch its length when it ends.
#[derive(Debug, Clone, Copy)]
#[must_use = "an opened message or nest must be closed"]
pub struct Mark(usize);

impl Writer {
    /// An empty buffer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether an attribute was too long to encode (a name or element list over 64 KiB).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Starts a netfilter message: `nlmsghdr` (length patched by [`Writer::end_msg`]) and
    /// `nfgenmsg` with `family` and `res_id` (the subsystem, for batch delimiters).
    pub fn begin_msg(
        &mut self,
        msg_type: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
    ) -> Mark {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&msg_type.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        Mark(start)
    }

    /// Ends the message opened at `mark`, writing its length.
    pub fn end_msg(&mut self, mark: Mark) {
        let len = self.buf.len() - mark.0;
        // A netlink message longer than 4 GiB cannot be sent; lengths are bounded by the
        // socket's send buffer long before that, so saturating only guards the arithmetic.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.buf[mark.0..mark.0 + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// An attribute with raw bytes, padded to 4 bytes.
    pub fn bytes(&mut self, attr: u16, value: &[u8]) {
        let len16 = self.attr_len(NLA_HDRLEN + value.len());
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&attr.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// A NUL-terminated string attribute (names of tables, chains, sets, expressions).
    pub fn str(&mut self, attr: u16, value: &str) {
        let len16 = self.attr_len(NLA_HDRLEN + value.len() + 1);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&attr.to_ne_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// A big-endian 32-bit attribute (nf_tables' NLA_U32 / NLA_BE32).
    pub fn u32(&mut self, attr: u16, value: u32) {
        self.bytes(attr, &value.to_be_bytes());
    }

    /// A big-endian 64-bit attribute (timeouts in milliseconds).
    pub fn u64(&mut self, attr: u16, value: u64) {
        self.bytes(attr, &value.to_be_bytes());
    }

    /// Opens a nested attribute; close it with [`Writer::end_nest`].
    pub fn begin_nest(&mut self, attr: u16) -> Mark {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(attr | NLA_F_NESTED).to_ne_bytes());
        Mark(start)
    }

    /// Closes the nested attribute opened at `mark`, writing its length.
    pub fn end_nest(&mut self, mark: Mark) {
        let len16 = self.attr_len(self.buf.len() - mark.0);
        self.buf[mark.0..mark.0 + 2].copy_from_slice(&len16.to_ne_bytes());
    }

    /// A nested attribute written by `f`.
    pub fn nest(&mut self, attr: u16, f: impl FnOnce(&mut Writer)) {
        let mark = self.begin_nest(attr);
        f(self);
        self.end_nest(mark);
    }

    /// Appends bytes already encoded (whole attributes, so alignment is kept).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An attribute's length as its 16-bit field holds it, noting when it does not fit.
    fn attr_len(&mut self, len: usize) -> u16 {
        u16::try_from(len).unwrap_or_else(|_| {
            self.overflowed = true;
            u16::MAX
        })
    }

    fn pad(&mut self) {
        let aligned = align(self.buf.len());
        self.buf.resize(aligned, 0);
    }
}

/// Iterates over the attributes in `buf`: (type without flags, value).
pub fn parse_attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < NLA_HDRLEN || len > rest.len() {
            return None;
        }
        let value = &rest[NLA_HDRLEN..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_carry_their_length() {
        let mut w = Writer::new();
        w.str(1, "T");
        w.nest(4, |w| w.u32(2, 0xffff_ff9c));
        assert_eq!(
            w.as_bytes(),
            &[
                6, 0, 1, 0, b'T', 0, 0, 0, // "T\0" padded to 4
                12, 0, 4, 0x80, // nested, 12 bytes
                8, 0, 2, 0, 0xff, 0xff, 0xff, 0x9c, // -100 big-endian
            ]
        );
        let parsed: Vec<_> = parse_attrs(w.as_bytes()).collect();
        assert_eq!(parsed[0], (1, &b"T\0"[..]));
        assert_eq!(parsed[1].0, 4);
    }
}
