//! The forwarder's answer cache, bounded in entries and in bytes (least recently used out
//! first). An answer is kept for its smallest record TTL, a negative one (NXDOMAIN or NODATA)
//! for the SOA's minimum as RFC 2308 says, each capped; a negative answer without SOA, a
//! failure or a truncated answer is not kept. A hit is given back with every TTL lowered by
//! the time it spent here, as CoreDNS's `cache` plugin does (one TTL for all records).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// What the cache may hold.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Answers held at most.
    pub entries: usize,
    /// Bytes of answers (their wire size) held at most.
    pub bytes: usize,
    /// Longest time an answer is kept, whatever its TTL.
    pub max_ttl: Duration,
    /// Longest time a negative answer is kept, whatever its SOA says.
    pub max_negative_ttl: Duration,
}

/// The question an answer is kept for (names compare without regard to case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub name: Name,
    pub qtype: RecordType,
    pub class: DNSClass,
}

/// An upstream answer's sections and flags, without the upstream's OPT record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    pub rcode: ResponseCode,
    pub recursion_available: bool,
    pub authentic_data: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Answer {
    /// The sections of an upstream response.
    pub fn of(msg: &Message) -> Self {
        Answer {
            rcode: msg.response_code(),
            recursion_available: msg.recursion_available(),
            authentic_data: msg.authentic_data(),
            answers: msg.answers().to_vec(),
            authority: msg.name_servers().to_vec(),
            additionals: msg
                .additionals()
                .iter()
                .filter(|r| r.record_type() != RecordType::OPT)
                .cloned()
                .collect(),
        }
    }

    fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authority.iter_mut())
            .chain(self.additionals.iter_mut())
    }
}

/// How long an answer may be kept, in seconds; `None`: not at all.
pub(super) fn keep_for(answer: &Answer, limits: &CacheLimits) -> Option<u32> {
    let cap = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    let negative = answer.rcode == ResponseCode::NXDomain
        || (answer.rcode == ResponseCode::NoError && answer.answers.is_empty());
    let ttl = if negative {
        let soa_ttl = answer.authority.iter().find_map(|r| match r.data() {
            RData::SOA(soa) => Some(r.ttl().min(soa.minimum())),
            _ => None,
        })?;
        soa_ttl.min(cap(limits.max_negative_ttl))
    } else if answer.rcode == ResponseCode::NoError {
        let min = answer
            .answers
            .iter()
            .chain(answer.authority.iter())
            .map(Record::ttl)
            .min()?;
        min.min(cap(limits.max_ttl))
    } else {
        return None;
    };
    (ttl > 0).then_some(ttl)
}

struct Entry {
    answer: Answer,
    stored: Instant,
    ttl: u32,
    bytes: usize,
    used: u64,
}

/// The bounded answer cache.
pub(super) struct Cache {
    limits: CacheLimits,
    entries: HashMap<Key, Entry>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
}

impl Cache {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Self {
        Cache {
            limits,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            bytes: 0,
        }
    }

    /// How many answers are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.by_use.remove(&e.used);
            self.bytes = self.bytes.saturating_sub(e.bytes);
        }
    }

    /// The answer held for `key` at `now`, its TTLs lowered by its age.
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<Answer> {
        let (age, ttl) = {
            let e = self.entries.get(key)?;
            let age = now.saturating_duration_since(e.stored).as_secs();
            (u32::try_from(age).unwrap_or(u32::MAX), e.ttl)
        };
        if age >= ttl {
            self.remove(key);
            return None;
        }
        let used = self.tick();
        let e = self.entries.get_mut(key)?;
        self.by_use.remove(&e.used);
        e.used = used;
        self.by_use.insert(used, key.clone());
        let mut answer = e.answer.clone();
        let left = ttl - age;
        for r in answer.records_mut() {
            r.set_ttl(left);
        }
        Some(answer)
    }

    /// Keeps `answer` (of `bytes` on the wire) for `key`, if it may be kept, making room.
    pub fn insert(&mut self, key: Key, answer: Answer, bytes: usize, now: Instant) {
        let Some(ttl) = keep_for(&answer, &self.limits) else {
            return;
        };
        if bytes > self.limits.bytes || self.limits.entries == 0 {
            return;
        }
        self.remove(&key);
        while self.entries.len() >= self.limits.entries
            || self.bytes.saturating_add(bytes) > self.limits.bytes
        {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
            }
        }
        let used = self.tick();
        self.by_use.insert(used, key.clone());
        self.bytes = self.bytes.saturating_add(bytes);
        self.entries.insert(
            key,
            Entry {
                answer,
                stored: now,
                ttl,
                bytes,
                used,
            },
        );
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
