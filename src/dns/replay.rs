//! Encoded cluster answers replayed. An authoritative answer depends only on the query's
//! flags, its question (names compare without case) and what follows the question (the OPT
//! record, which sets the size limit), and on the cluster objects; so while their generation
//! stays the same, the bytes sent for one query serve the next one that asks the same: its id
//! and its name's own spelling are copied in, and nothing is parsed or encoded again.
//! Bounded: past [`MAX_ANSWERS`] entries, or at a new generation, it starts empty.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::handler::{Transport, HEADER_LEN};

/// How many encoded answers are kept.
const MAX_ANSWERS: usize = 4096;
/// The longest name on the wire.
const MAX_NAME: usize = 255;

#[derive(Default)]
struct Inner {
    generation: u64,
    by_query: HashMap<Vec<u8>, Vec<u8>>,
}

/// The replayable answers.
#[derive(Default)]
pub(super) struct Replay {
    inner: Mutex<Inner>,
}

/// Where the question's name ends, when it is plain labels (no compression, as a query's
/// first name always is) and type and class follow it.
pub(super) fn name_end(packet: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*packet.get(at)?);
        if len == 0 {
            let end = at + 1;
            return (end - HEADER_LEN <= MAX_NAME && end + 4 <= packet.len()).then_some(end);
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
}

/// The key of a query: transport, flags, the name lower-cased, type, class and the rest.
pub(super) fn key(packet: &[u8], transport: Transport, end: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(packet.len() + 1);
    k.push(match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    });
    k.extend_from_slice(&packet[2..4]);
    k.extend(packet[HEADER_LEN..end].iter().map(u8::to_ascii_lowercase));
    k.extend_from_slice(&packet[end..]);
    k
}

/// `response`, kept for a query asking what `packet` asks, with `packet`'s id and its
/// name's spelling (the name ends at `end`); `None` if the names differ but for case.
pub(super) fn made_own(mut response: Vec<u8>, packet: &[u8], end: usize) -> Option<Vec<u8>> {
    let name = response.get_mut(HEADER_LEN..end)?;
    let asked = packet.get(HEADER_LEN..end)?;
    if !name.eq_ignore_ascii_case(asked) {
        return None;
    }
    name.copy_from_slice(asked);
    response.get_mut(..2)?.copy_from_slice(packet.get(..2)?);
    Some(response)
}

impl Replay {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing holding this lock can panic without aborting the process.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to `packet` sent before under `generation`, made this query's own.
    pub fn get(&self, packet: &[u8], transport: Transport, generation: u64) -> Option<Vec<u8>> {
        let end = name_end(packet)?;
        let key = key(packet, transport, end);
        let response = {
            let inner = self.inner();
            if inner.generation != generation {
                return None;
            }
            inner.by_query.get(&key)?.clone()
        };
        made_own(response, packet, end)
    }

    /// Keeps `response`, the answer to `packet` worked out under `generation`.
    pub fn put(&self, packet: &[u8], transport: Transport, generation: u64, response: &[u8]) {
        let Some(end) = name_end(packet) else {
            return;
        };
        let mut inner = self.inner();
        if inner.generation != generation || inner.by_query.len() >= MAX_ANSWERS {
            inner.generation = generation;
            inner.by_query.clear();
        }
        inner
            .by_query
            .insert(key(packet, transport, end), response.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (dotted, no trailing dot) of type A with id `id`.
    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    /// A response to `q`: its header with the QR bit, its question, one made-up byte.
    fn response(q: &[u8]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r.push(0xAB);
        r
    }

    #[test]
    fn the_same_question_gets_the_answer_with_its_own_id_and_spelling() {
        let replay = Replay::default();
        let first = query(7, "web.default.svc.cluster.local");
        replay.put(&first, Transport::Udp, 3, &response(&first));
        let again = query(9, "WEB.Default.svc.cluster.local");
        let got = replay.get(&again, Transport::Udp, 3).unwrap();
        assert_eq!(&got[..2], &9u16.to_be_bytes());
        assert_eq!(
            &got[HEADER_LEN..again.len() - 4],
            &again[HEADER_LEN..again.len() - 4]
        );
        assert_eq!(got.last(), Some(&0xAB));
    }

    #[test]
    fn another_question_transport_or_generation_misses() {
        let replay = Replay::default();
        let first = query(7, "web.default.svc.cluster.local");
        replay.put(&first, Transport::Udp, 3, &response(&first));
        assert!(replay
            .get(&query(7, "db.default.svc.cluster.local"), Transport::Udp, 3)
            .is_none());
        assert!(replay.get(&first, Transport::Tcp, 3).is_none());
        assert!(replay.get(&first, Transport::Udp, 4).is_none());
        // A new generation forgets the old answers.
        let other = query(1, "db.default.svc.cluster.local");
        replay.put(&other, Transport::Udp, 4, &response(&other));
        assert!(replay.get(&first, Transport::Udp, 3).is_none());
    }

    #[test]
    fn malformed_questions_are_never_replayed() {
        let replay = Replay::default();
        let mut pointer = query(7, "web");
        pointer[HEADER_LEN] = 0xC0;
        replay.put(&pointer, Transport::Udp, 1, &response(&pointer));
        assert!(replay.get(&pointer, Transport::Udp, 1).is_none());
        let cut = &query(7, "web.default")[..16];
        assert!(replay.get(cut, Transport::Udp, 1).is_none());
    }
}
