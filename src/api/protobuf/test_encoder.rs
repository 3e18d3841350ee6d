//! A minimal protobuf encoder for tests: builds messages field by field the way gogo's
//! generated `Marshal` lays them out, so tests can describe what client-go sends.

/// A message under construction.
#[derive(Default, Clone)]
pub struct Msg(pub Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Msg {
    /// An empty message.
    pub fn new() -> Self {
        Msg(Vec::new())
    }

    fn key(&mut self, n: u32, wire: u8) {
        put_varint(&mut self.0, (u64::from(n) << 3) | u64::from(wire));
    }

    /// A varint field (int32/int64 are sign-extended to 64 bits).
    pub fn int(mut self, n: u32, v: i64) -> Self {
        self.key(n, 0);
        put_varint(&mut self.0, v as u64);
        self
    }

    /// A bool field.
    pub fn bool(self, n: u32, v: bool) -> Self {
        self.int(n, i64::from(v))
    }

    /// A length-delimited field.
    pub fn bytes(mut self, n: u32, b: &[u8]) -> Self {
        self.key(n, 2);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A string field.
    pub fn str(self, n: u32, s: &str) -> Self {
        self.bytes(n, s.as_bytes())
    }

    /// An embedded message field.
    pub fn msg(self, n: u32, m: Msg) -> Self {
        self.bytes(n, &m.0)
    }

    /// A `map<string, string>` entry.
    pub fn entry(self, n: u32, k: &str, v: &str) -> Self {
        self.msg(n, Msg::new().str(1, k).str(2, v))
    }

    /// A `map<string, bytes>` entry.
    pub fn entry_bytes(self, n: u32, k: &str, v: &[u8]) -> Self {
        self.msg(n, Msg::new().str(1, k).bytes(2, v))
    }

    /// A `map<string, Quantity>` entry.
    pub fn entry_quantity(self, n: u32, k: &str, q: &str) -> Self {
        self.msg(n, Msg::new().str(1, k).msg(2, quantity(q)))
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A `resource.Quantity`.
pub fn quantity(s: &str) -> Msg {
    Msg::new().str(1, s)
}

/// A `metav1.Time` as gogo writes it: empty when zero.
pub fn time(seconds: i64) -> Msg {
    if seconds == 0 {
        Msg::new()
    } else {
        Msg::new().int(1, seconds)
    }
}

/// An `intstr.IntOrString` holding a number.
pub fn int_or_string_int(v: i32) -> Msg {
    Msg::new().int(1, 0).int(2, i64::from(v)).str(3, "")
}

/// An `intstr.IntOrString` holding a string.
pub fn int_or_string_str(s: &str) -> Msg {
    Msg::new().int(1, 1).int(2, 0).str(3, s)
}

/// `ObjectMeta` as client-go writes it for a new object: every non-pointer field present.
pub fn object_meta(name: &str, namespace: &str, created: i64) -> Msg {
    Msg::new()
        .str(1, name)
        .str(2, "")
        .str(3, namespace)
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, time(created))
}

/// The `k8s\0` + `runtime.Unknown` envelope around an object.
pub fn envelope(api_version: &str, kind: &str, obj: Msg) -> Vec<u8> {
    let unknown = Msg::new()
        .msg(1, Msg::new().str(1, api_version).str(2, kind))
        .msg(2, obj)
        .str(3, "")
        .str(4, "");
    let mut out = super::MAGIC.to_vec();
    out.extend(unknown.into_bytes());
    out
}
