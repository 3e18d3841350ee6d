//! Forwarded answers replayed. While a forwarded answer may be kept (the time the cache keeps
//! it for), the bytes sent for one query serve the next one that asks the same (same flags,
//! question without regard to case, and OPT record): its id and its name's spelling are copied
//! in and every record's TTL is set to the seconds left, as a cache hit would give them; the
//! query is not parsed and the answer not encoded again. Bounded in answers and in bytes:
//! past either, the expired answers go, and if that is not enough, all of them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::handler::{Transport, HEADER_LEN};
use super::replay::{key, made_own, name_end};

/// How many encoded answers are kept.
const MAX_ANSWERS: usize = 4096;
/// How many bytes of encoded answers are kept.
const MAX_BYTES: usize = 1 << 20;
/// The OPT pseudo-record's type: its TTL field holds EDNS flags, not a TTL.
const OPT: u16 = 41;

struct Kept {
    response: Vec<u8>,
    /// Where each record's TTL is in `response`.
    ttls: Vec<usize>,
    stored: Instant,
    /// Seconds it may be replayed for, from `stored`.
    ttl: u32,
}

#[derive(Default)]
struct Inner {
    by_query: HashMap<Vec<u8>, Kept>,
    bytes: usize,
}

/// The replayable forwarded answers.
#[derive(Default)]
pub(super) struct ForwardedReplay {
    inner: Mutex<Inner>,
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    match msg.get(at..at.checked_add(2)?)? {
        &[a, b] => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

/// Where the name starting at `at` ends (labels ending in a root label or a pointer).
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len & 0xC0 {
            0xC0 => return msg.get(at + 1).map(|_| at + 2),
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// Where the TTL of every record but OPT is in the message `msg`; `None` if it does not
/// read as a whole message.
fn ttl_offsets(msg: &[u8]) -> Option<Vec<usize>> {
    let questions = be16(msg, 4)?;
    let records = [6, 8, 10]
        .iter()
        .try_fold(0usize, |sum, &at| Some(sum + usize::from(be16(msg, at)?)))?;
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = skip_name(msg, at)?.checked_add(4)?;
    }
    let mut ttls = Vec::with_capacity(records);
    for _ in 0..records {
        at = skip_name(msg, at)?;
        let rtype = be16(msg, at)?;
        let rdata_len = usize::from(be16(msg, at.checked_add(8)?)?);
        if rtype != OPT {
            ttls.push(at + 4);
        }
        at = at.checked_add(10)?.checked_add(rdata_len)?;
    }
    (at == msg.len()).then_some(ttls)
}

impl ForwardedReplay {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing holding this lock can panic without aborting the process.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to `packet` sent before and still fresh at `now`, made this query's own.
    pub fn get(&self, packet: &[u8], transport: Transport, now: Instant) -> Option<Vec<u8>> {
        let end = name_end(packet)?;
        let key = key(packet, transport, end);
        let (mut response, ttls, left) = {
            let mut inner = self.inner();
            let kept = inner.by_query.get(&key)?;
            let age = now.saturating_duration_since(kept.stored).as_secs();
            let left = u64::from(kept.ttl).checked_sub(age).filter(|&l| l > 0);
            let Some(left) = left.and_then(|l| u32::try_from(l).ok()) else {
                if let Some(gone) = inner.by_query.remove(&key) {
                    inner.bytes = inner.bytes.saturating_sub(gone.response.len());
                }
                return None;
            };
            (kept.response.clone(), kept.ttls.clone(), left)
        };
        for at in ttls {
            response
                .get_mut(at..at + 4)?
                .copy_from_slice(&left.to_be_bytes());
        }
        made_own(response, packet, end)
    }

    /// Keeps `response`, the answer to `packet` at `now`, for `ttl` seconds.
    pub fn put(
        &self,
        packet: &[u8],
        transport: Transport,
        response: &[u8],
        ttl: u32,
        now: Instant,
    ) {
        let (Some(end), Some(ttls)) = (name_end(packet), ttl_offsets(response)) else {
            return;
        };
        if response.len() > MAX_BYTES {
            return;
        }
        let mut inner = self.inner();
        let full =
            |i: &Inner| i.by_query.len() >= MAX_ANSWERS || i.bytes + response.len() > MAX_BYTES;
        if full(&inner) {
            inner.by_query.retain(|_, k| {
                now.saturating_duration_since(k.stored).as_secs() < u64::from(k.ttl)
            });
            inner.bytes = inner.by_query.values().map(|k| k.response.len()).sum();
            if full(&inner) {
                inner.by_query.clear();
                inner.bytes = 0;
            }
        }
        let kept = Kept {
            response: response.to_vec(),
            ttls,
            stored: now,
            ttl,
        };
        inner.bytes += response.len();
        if let Some(old) = inner.by_query.insert(key(packet, transport, end), kept) {
            inner.bytes = inner.bytes.saturating_sub(old.response.len());
        }
    }
}

#[cfg(test)]
#[path = "replay_forwarded_tests.rs"]
mod tests;
