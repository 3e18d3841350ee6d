//! Writing a response within the size the client can take: 512 bytes over UDP without EDNS,
//! the client's EDNS payload size (at least 512, at most [`EDNS_PAYLOAD`]) with it, 65535 over
//! TCP. What does not fit is cut as RFC 2181 section 9 says: the additional section first
//! (no TC bit: it is extra data), then answers from the end with the TC bit set, so the
//! client asks again over TCP.

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::Record;

use super::forward::EDNS_PAYLOAD;

/// The smallest response size every DNS client takes (RFC 1035).
const CLASSIC_UDP: u16 = 512;

/// What a response needs from the query it answers.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    /// The query's id.
    pub id: u16,
    /// The query's opcode.
    pub op_code: OpCode,
    /// Recursion desired, copied back.
    pub recursion_desired: bool,
    /// Checking disabled, copied back.
    pub checking_disabled: bool,
    /// The question, as asked (case kept).
    pub query: Option<Query>,
    /// Whether the query carried EDNS (then the response does too).
    pub edns: bool,
    /// The largest response the client takes.
    pub max_size: u16,
}

impl Asked {
    /// The size limit for a UDP client that offered `payload` by EDNS, or none.
    pub fn udp_limit(payload: Option<u16>) -> u16 {
        match payload {
            Some(p) => p.clamp(CLASSIC_UDP, EDNS_PAYLOAD),
            None => CLASSIC_UDP,
        }
    }
}

/// A response's content.
#[derive(Debug, Clone, Default)]
pub(super) struct Sections {
    pub rcode: Option<ResponseCode>,
    pub authoritative: bool,
    pub recursion_available: bool,
    pub authentic_data: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additionals: Vec<Record>,
}

fn message(asked: &Asked, s: &Sections, answers: &[Record], cut: bool) -> Message {
    let mut header = Header::new();
    header
        .set_id(asked.id)
        .set_message_type(MessageType::Response)
        .set_op_code(asked.op_code)
        .set_authoritative(s.authoritative)
        .set_recursion_desired(asked.recursion_desired)
        .set_recursion_available(s.recursion_available)
        .set_authentic_data(s.authentic_data)
        .set_checking_disabled(asked.checking_disabled)
        .set_truncated(cut)
        .set_response_code(s.rcode.unwrap_or(ResponseCode::NoError));
    let mut msg = Message::new();
    msg.set_header(header);
    if let Some(q) = &asked.query {
        msg.add_query(q.clone());
    }
    msg.add_answers(answers.iter().cloned());
    if !cut {
        msg.add_name_servers(s.authority.iter().cloned());
    }
    if asked.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        msg.set_edns(edns);
    }
    msg
}

/// The response bytes, cut to fit `asked.max_size`; `None` only if even the bare header
/// cannot be written.
pub(super) fn encode(asked: &Asked, s: &Sections) -> Option<Vec<u8>> {
    let limit = usize::from(asked.max_size);
    let mut full = message(asked, s, &s.answers, false);
    full.add_additionals(s.additionals.iter().cloned());
    if let Ok(bytes) = full.to_vec() {
        if bytes.len() <= limit {
            return Some(bytes);
        }
    }
    if let Ok(bytes) = message(asked, s, &s.answers, false).to_vec() {
        if bytes.len() <= limit {
            return Some(bytes);
        }
    }
    // The most answers that fit, by bisection; the TC bit says the rest is missing.
    let (mut lo, mut hi) = (0usize, s.answers.len());
    let mut best = message(asked, s, &[], true).to_vec().ok()?;
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match message(asked, s, &s.answers[..mid], true).to_vec() {
            Ok(bytes) if bytes.len() <= limit => {
                best = bytes;
                lo = mid;
            }
            _ => hi = mid - 1,
        }
    }
    Some(best)
}

/// A response with only a header (and the question when known): FORMERR, NOTIMP, SERVFAIL…
pub(super) fn error(asked: &Asked, rcode: ResponseCode) -> Option<Vec<u8>> {
    encode(
        asked,
        &Sections {
            rcode: Some(rcode),
            ..Default::default()
        },
    )
}
