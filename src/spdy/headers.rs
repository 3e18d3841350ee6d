//! SPDY/3 header blocks (draft 3.1, section 2.6.10): a count, then length-prefixed names and
//! values, all compressed with zlib primed with the protocol's dictionary. Each direction of
//! a session is one zlib stream — every block ends with a sync flush and the next one goes on
//! from there — so a session keeps one [`HeaderEncoder`] and one [`HeaderDecoder`] for its
//! whole life, as spdystream's framer does.

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The most a decompressed header block may hold here: kubectl's blocks are a few dozen
/// bytes, and a small bound stops a compressed bomb.
pub const MAX_BLOCK: usize = 16 << 10;

/// One header: a lowercase name and its value (several values are joined by NUL).
pub type Header = (String, String);

/// Why a header block cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The zlib stream is corrupt or primed with another dictionary.
    #[error("SPDY header block does not decompress: {0}")]
    Compression(String),
    /// The decompressed block is over [`MAX_BLOCK`].
    #[error("SPDY header block is over {MAX_BLOCK} bytes")]
    TooLarge,
    /// The decompressed block is not a count of name/value pairs.
    #[error("malformed SPDY header block")]
    Malformed,
}

/// The words the SPDY/3 dictionary lists, each prefixed on the wire by its 32-bit length.
const WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail after its words: status codes, reason phrases, dates, media types.
const TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 zlib dictionary (1423 bytes, Adler-32 0xe3c6a7c2).
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in WORDS {
        // every word is a few bytes long
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(TAIL.as_bytes());
    d
}

/// Compresses this side's header blocks.
pub struct HeaderEncoder {
    deflate: Compress,
}

impl HeaderEncoder {
    /// A fresh compression context primed with the dictionary.
    pub fn new() -> Result<Self, HeaderError> {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(&dictionary())
            .map_err(|e| HeaderError::Compression(e.to_string()))?;
        Ok(HeaderEncoder { deflate })
    }

    /// `headers` as the next compressed block of the session.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Result<Bytes, HeaderError> {
        let plain = serialize(headers)?;
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input = &plain[..];
        loop {
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| HeaderError::Compression(e.to_string()))?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            // done once the input is taken and the flush did not fill the room it had
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out.into());
            }
            out.reserve(64 + input.len());
        }
    }
}

/// Decompresses the peer's header blocks.
pub struct HeaderDecoder {
    inflate: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder {
            inflate: Decompress::new(true),
        }
    }
}

impl HeaderDecoder {
    /// The headers of the next compressed block of the session.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Header>, HeaderError> {
        let corrupt = |e: flate2::DecompressError| HeaderError::Compression(e.to_string());
        let mut plain = Vec::new();
        let mut chunk = [0u8; 2048];
        let mut input = block;
        loop {
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let result = self
                .inflate
                .decompress(input, &mut chunk, FlushDecompress::Sync);
            let used = usize::try_from(self.inflate.total_in() - in0).unwrap_or(usize::MAX);
            let made = usize::try_from(self.inflate.total_out() - out0).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            plain.extend_from_slice(chunk.get(..made).unwrap_or_default());
            if plain.len() > MAX_BLOCK {
                return Err(HeaderError::TooLarge);
            }
            match result {
                // The first block's zlib header names the dictionary, which is given then.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&dictionary())
                        .map_err(corrupt)?;
                }
                Err(e) => return Err(corrupt(e)),
                Ok(Status::StreamEnd) => break,
                Ok(_) if input.is_empty() && made < chunk.len() => break,
                Ok(_) if used == 0 && made == 0 => break,
                Ok(_) => {}
            }
        }
        parse(&plain)
    }
}

fn serialize(headers: &[(&str, &str)]) -> Result<Vec<u8>, HeaderError> {
    let mut b = BytesMut::new();
    let len = |n: usize| u32::try_from(n).map_err(|_| HeaderError::TooLarge);
    b.put_u32(len(headers.len())?);
    for (name, value) in headers {
        b.put_u32(len(name.len())?);
        b.put_slice(name.as_bytes());
        b.put_u32(len(value.len())?);
        b.put_slice(value.as_bytes());
    }
    Ok(b.to_vec())
}

/// Reads a decompressed block front to back.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderError> {
        if self.0.len() < n {
            return Err(HeaderError::Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn length(&mut self) -> Result<usize, HeaderError> {
        let b = self.take(4)?;
        usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .map_err(|_| HeaderError::Malformed)
    }
}

fn parse(plain: &[u8]) -> Result<Vec<Header>, HeaderError> {
    let mut c = Cursor(plain);
    let count = c.length()?;
    // every pair takes at least 8 bytes, so a count over that is a lie
    if count > plain.len() / 8 {
        return Err(HeaderError::Malformed);
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let n = c.length()?;
        let name = std::str::from_utf8(c.take(n)?).map_err(|_| HeaderError::Malformed)?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HeaderError::Malformed);
        }
        let name = name.to_string();
        let n = c.length()?;
        let value = String::from_utf8_lossy(c.take(n)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// The value of `name` in `headers` (the first, when it repeats).
pub fn get<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert!(d.starts_with(b"\x00\x00\x00\x07options\x00\x00\x00\x04head"));
        assert!(d.ends_with(b"utf-,*,enq=0."));
    }

    /// Two consecutive blocks of one session as CPython's zlib (`compressobj` with `zdict`,
    /// level 9, `Z_SYNC_FLUSH` after each) writes them: the second refers back to the first.
    #[test]
    fn blocks_from_a_reference_zlib_decode() {
        let first = hex("78f9e3c6a7c202253a48f95b044eea16061606409ab308125f99a074cc68004e892545a989b9d0c2863515141500000000ffff");
        let second = hex("225333a8a44a04000000ffff");
        let mut d = HeaderDecoder::default();
        let h = d.decode(&first).unwrap();
        assert_eq!(get(&h, "port"), Some("8080"));
        assert_eq!(get(&h, "requestid"), Some("0"));
        assert_eq!(get(&h, "streamtype"), Some("error"));
        let h = d.decode(&second).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(get(&h, "streamtype"), Some("data"));
        // a block of a second session cannot be read without the first
        assert!(HeaderDecoder::default().decode(&second).is_err());
    }

    #[test]
    fn encoded_blocks_decode_in_order() {
        let mut e = HeaderEncoder::new().unwrap();
        let mut d = HeaderDecoder::default();
        for i in 0..50 {
            let id = i.to_string();
            let block = e
                .encode(&[("streamtype", "data"), ("requestid", &id)])
                .unwrap();
            assert!(block.ends_with(&[0, 0, 0xff, 0xff]), "sync flushed");
            let h = d.decode(&block).unwrap();
            assert_eq!(get(&h, "requestid"), Some(id.as_str()));
        }
        let empty = e.encode(&[]).unwrap();
        assert_eq!(d.decode(&empty).unwrap(), vec![]);
        // the first block carries the zlib header naming the dictionary
        let first = HeaderEncoder::new().unwrap().encode(&[]).unwrap();
        assert_eq!(&first[2..6], &0xe3c6_a7c2u32.to_be_bytes());
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        // a count with no pairs behind it
        assert_eq!(parse(b"\x00\x00\x00\x05"), Err(HeaderError::Malformed));
        assert_eq!(
            parse(b"\x00\x00\x00\x01\x00\x00\x00\x04Port\x00\x00\x00\x00"),
            Err(HeaderError::Malformed),
            "names are lowercase"
        );
        assert_eq!(
            parse(b"\x00\x00\x00\x01\x00\x00\x00\x09port"),
            Err(HeaderError::Malformed)
        );
        assert!(HeaderDecoder::default().decode(b"not zlib at all").is_err());
    }

    #[test]
    fn a_compressed_bomb_is_cut_off() {
        // 1 MiB of zeros compresses to about a kilobyte
        let mut c = Compress::new(Compression::best(), true);
        c.set_dictionary(&dictionary()).unwrap();
        let mut out = Vec::with_capacity(1 << 16);
        c.compress_vec(&vec![0u8; 1 << 20], &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.len() < 1 << 16);
        assert_eq!(
            HeaderDecoder::default().decode(&out),
            Err(HeaderError::TooLarge)
        );
    }
}
