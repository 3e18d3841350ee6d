//! Writing protobuf messages (proto3 rules: scalars at their zero value are left out,
//! embedded messages are always written), for the documents the server answers in protobuf.

/// One message under construction.
#[derive(Default)]
pub struct Writer(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // the low seven bits, with the continuation bit set
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Writer {
    fn key(&mut self, n: u32, wire: u8) {
        put_varint(&mut self.0, (u64::from(n) << 3) | u64::from(wire));
    }

    /// A `bool` field.
    pub fn bool(&mut self, n: u32, v: bool) {
        if v {
            self.key(n, 0);
            self.0.push(1);
        }
    }

    /// A `bool` member of a `oneof`, written even when false (its presence is the choice).
    pub fn oneof_bool(&mut self, n: u32, v: bool) {
        self.key(n, 0);
        self.0.push(u8::from(v));
    }

    /// An `int64` field.
    pub fn int(&mut self, n: u32, v: i64) {
        if v != 0 {
            self.key(n, 0);
            // int64 is written as its two's complement bits
            put_varint(&mut self.0, v as u64);
        }
    }

    /// A `double` field.
    pub fn double(&mut self, n: u32, v: f64) {
        if v != 0.0 {
            self.key(n, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A `string` field (also each item of a repeated one, which writes empty strings too).
    pub fn string(&mut self, n: u32, s: &str) {
        if !s.is_empty() {
            self.item(n, s);
        }
    }

    /// One item of a `repeated string`.
    pub fn item(&mut self, n: u32, s: &str) {
        self.bytes(n, s.as_bytes());
    }

    fn bytes(&mut self, n: u32, b: &[u8]) {
        self.key(n, 2);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// An embedded message.
    pub fn message(&mut self, n: u32, m: Writer) {
        self.bytes(n, &m.0);
    }

    /// The encoded message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{Reader, WireValue};
    use super::*;

    #[test]
    fn fields_read_back_and_zero_scalars_are_left_out() {
        let mut inner = Writer::default();
        inner.string(1, "x");
        let mut w = Writer::default();
        w.bool(1, true);
        w.bool(2, false);
        w.int(3, 300);
        w.int(4, -1);
        w.double(5, 1.5);
        w.string(6, "");
        w.item(7, "");
        w.message(8, inner);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let mut seen = Vec::new();
        while let Some((n, v)) = r.field().unwrap() {
            seen.push((n, v));
        }
        assert_eq!(
            seen,
            [
                (1, WireValue::Varint(1)),
                (3, WireValue::Varint(300)),
                (4, WireValue::Varint(u64::MAX)),
                (5, WireValue::Fixed64(1.5f64.to_bits())),
                (7, WireValue::Bytes(b"")),
                (8, WireValue::Bytes(&[10, 1, b'x'])),
            ]
        );
    }
}
