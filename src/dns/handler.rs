//! One query from bytes to the response bytes, for both transports: the header checked
//! before anything else is read (a response, more than one question or a record count no
//! query has is refused before parsing, so no wire count sizes an allocation), then the
//! cluster zone decides, and what it does not own goes to the forwarder. Malformed queries
//! get FORMERR when their header can be read, otherwise nothing.

use std::time::Instant;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::cache::keep_for;
use super::forward::Forwarder;
use super::replay::Replay;
use super::replay_forwarded::ForwardedReplay;
use super::respond::{self, Asked, Sections};
use super::source::ClusterRecords;
use super::zone::{Outcome, Reply, Zone};

/// Additional records a query may carry (OPT, and perhaps a TSIG we ignore).
const MAX_QUERY_ADDITIONALS: u16 = 2;
/// The DNS header's length.
pub(super) const HEADER_LEN: usize = 12;

/// How the query came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// A datagram: responses are cut to the client's size.
    Udp,
    /// A TCP stream: up to 65535 bytes.
    Tcp,
}

/// What became of a query.
pub(super) enum Step {
    /// Send these bytes.
    Respond(Vec<u8>),
    /// Needs an upstream: [`Handler::finish`] it (or [`Handler::busy`] when too many are out).
    Upstream(Box<Pending>),
    /// Send nothing (not a query, or not even a header).
    Drop,
}

/// A query waiting for an upstream.
pub(super) struct Pending {
    asked: Asked,
    name: Name,
    qtype: RecordType,
    class: DNSClass,
    /// The CNAME chain of an ExternalName whose target is being looked up.
    chain: Option<Vec<Record>>,
    /// The query's bytes, to replay its answer to the next that asks the same.
    packet: Vec<u8>,
    transport: Transport,
}

/// The zone and the forwarder together.
pub(super) struct Handler<R> {
    pub zone: Zone<R>,
    pub forwarder: Forwarder,
    /// Zone answers sent before, for the same questions.
    pub replay: Replay,
    /// Forwarded answers sent before, for the same questions.
    pub forwarded: ForwardedReplay,
}

fn be16(packet: &[u8], at: usize) -> u16 {
    match packet.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn authoritative(reply: Reply) -> Sections {
    Sections {
        authoritative: reply.rcode != ResponseCode::Refused,
        rcode: Some(reply.rcode),
        answers: reply.answers,
        authority: reply.authority,
        additionals: reply.additionals,
        ..Default::default()
    }
}

fn respond(bytes: Option<Vec<u8>>) -> Step {
    bytes.map(Step::Respond).unwrap_or(Step::Drop)
}

impl<R: ClusterRecords> Handler<R> {
    /// Reads a query and answers it, or says it needs an upstream.
    pub fn start(&self, packet: &[u8], transport: Transport) -> Step {
        let Some(header) = packet.get(..HEADER_LEN) else {
            return Step::Drop;
        };
        let (flags, more) = (header[2], header[3]);
        // Never answer a response: two servers could bounce errors at each other forever.
        if flags & 0x80 != 0 {
            return Step::Drop;
        }
        let mut asked = Asked {
            id: be16(header, 0),
            op_code: OpCode::from_u8((flags >> 3) & 0x0f),
            recursion_desired: flags & 0x01 != 0,
            checking_disabled: more & 0x10 != 0,
            query: None,
            edns: false,
            max_size: match transport {
                Transport::Udp => Asked::udp_limit(None),
                Transport::Tcp => u16::MAX,
            },
        };
        if asked.op_code != OpCode::Query {
            tracing::debug!(op_code = ?asked.op_code, "not a query: NOTIMP");
            return respond(respond::error(&asked, ResponseCode::NotImp));
        }
        let (questions, answers, authority, additional) = (
            be16(header, 4),
            be16(header, 6),
            be16(header, 8),
            be16(header, 10),
        );
        if questions != 1 || answers != 0 || authority != 0 || additional > MAX_QUERY_ADDITIONALS {
            tracing::debug!(
                questions,
                answers,
                authority,
                additional,
                "malformed query: FORMERR"
            );
            return respond(respond::error(&asked, ResponseCode::FormErr));
        }
        let generation = self.zone.generation();
        if let Some(bytes) = generation.and_then(|g| self.replay.get(packet, transport, g)) {
            return Step::Respond(bytes);
        }
        if let Some(bytes) = self.forwarded.get(packet, transport, Instant::now()) {
            return Step::Respond(bytes);
        }
        let msg = match Message::from_vec(packet) {
            Ok(m) => m,
            Err(_) => {
                // The parser's error text is not logged: it prints names as Unicode, which
                // would link an IDNA table into the binary for a debug line.
                tracing::debug!(bytes = packet.len(), "malformed query: FORMERR");
                return respond(respond::error(&asked, ResponseCode::FormErr));
            }
        };
        let Some(query) = msg.query().cloned() else {
            return respond(respond::error(&asked, ResponseCode::FormErr));
        };
        asked.query = Some(query.clone());
        if let Some(edns) = msg.extensions() {
            asked.edns = true;
            if transport == Transport::Udp {
                asked.max_size = Asked::udp_limit(Some(edns.max_payload()));
            }
            if edns.version() > 0 {
                return respond(respond::error(&asked, ResponseCode::BADVERS));
            }
        }
        let (name, qtype) = (query.name().clone(), query.query_type());
        tracing::debug!(name = %name.to_ascii(), ?qtype, ?transport, "query");
        match self.zone.answer(&name, qtype) {
            Outcome::Reply(reply) => {
                let bytes = respond::encode(&asked, &authoritative(reply));
                if let (Some(g), Some(b)) = (generation, &bytes) {
                    self.replay.put(packet, transport, g, b);
                }
                respond(bytes)
            }
            Outcome::Chase { chain, target } => Step::Upstream(Box::new(Pending {
                asked,
                name: target,
                qtype,
                class: DNSClass::IN,
                chain: Some(chain),
                packet: Vec::new(),
                transport,
            })),
            Outcome::Forward => Step::Upstream(Box::new(Pending {
                asked,
                name,
                qtype,
                class: query.query_class(),
                chain: None,
                packet: packet.to_vec(),
                transport,
            })),
        }
    }

    /// Answers a query that needs an upstream.
    pub async fn finish(&self, p: Box<Pending>) -> Option<Vec<u8>> {
        let result = self.forwarder.resolve(&p.name, p.qtype, p.class).await;
        if let Some(chain) = p.chain {
            let upstream = result.ok().map(|a| a.answers);
            let reply = self.zone.chased(chain, upstream);
            return respond::encode(&p.asked, &authoritative(reply));
        }
        match result {
            Ok(a) => {
                let fresh_for = keep_for(&a, &self.forwarder.limits());
                let bytes = respond::encode(
                    &p.asked,
                    &Sections {
                        rcode: Some(a.rcode),
                        authoritative: false,
                        recursion_available: a.recursion_available,
                        authentic_data: a.authentic_data,
                        answers: a.answers,
                        authority: a.authority,
                        additionals: a.additionals,
                    },
                );
                if let (Some(ttl), Some(b)) = (fresh_for, &bytes) {
                    self.forwarded
                        .put(&p.packet, p.transport, b, ttl, Instant::now());
                }
                bytes
            }
            Err(e) => {
                tracing::debug!(name = %p.name.to_ascii(), qtype = ?p.qtype, error = %e, "SERVFAIL");
                respond::error(&p.asked, ResponseCode::ServFail)
            }
        }
    }

    /// SERVFAIL for a query that found every forwarding place taken.
    pub fn busy(&self, p: &Pending) -> Option<Vec<u8>> {
        tracing::debug!(name = %p.name.to_ascii(), "too many forwarded queries: SERVFAIL");
        respond::error(&p.asked, ResponseCode::ServFail)
    }
}
