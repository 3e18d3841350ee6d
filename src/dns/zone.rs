//! The authoritative answers for the cluster domain and for the cluster's addresses in the
//! reverse zones, rule for rule as CoreDNS's `kubernetes` plugin answers them as k3s
//! configures it (`kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure;
//! fallthrough in-addr.arpa ip6.arpa; ttl 30 }`; plugin/kubernetes/handler.go and
//! plugin/backend_lookup.go): which query type gets which records, and when a missing answer
//! is NXDOMAIN (the name does not exist) or NODATA (it exists, with no record of that type),
//! both with the zone's SOA in the authority section. It reads the cluster through
//! [`ClusterRecords`] and decides, keeping each answer for reuse while the records'
//! generation stays the same (a busy name is worked out once per change of the cluster);
//! sending is the server's business.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::error::DnsError;
use super::lookup::{Found, Host, Lookup, Miss};
use super::names;
use super::source::ClusterRecords;

mod apex;

/// CNAMEs followed inside the zone before giving up (CoreDNS stops past 7).
const MAX_CNAME_DEPTH: usize = 8;

/// A complete response's sections.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reply {
    /// The response code.
    pub rcode: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (the SOA of a negative answer).
    pub authority: Vec<Record>,
    /// The additional section (addresses of SRV targets and of the name server).
    pub additionals: Vec<Record>,
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// Answer with this, authoritatively.
    Reply(Reply),
    /// An ExternalName chain leaves the zone: look `target` up upstream and answer `chain`
    /// followed by its answers ([`Zone::chased`]).
    Chase {
        /// The CNAME records so far.
        chain: Vec<Record>,
        /// The name outside the zone.
        target: Name,
    },
    /// Not the cluster's name: ask the upstream resolvers.
    Forward,
}

/// Answers worked out once, reused while the cluster objects stay the same.
#[derive(Default)]
struct Answers {
    generation: u64,
    by_question: HashMap<(String, RecordType), Outcome>,
}

/// How many answers are kept; past it they are all dropped and worked out again.
const MAX_ANSWERS: usize = 4096;

/// The cluster domain over a source of cluster objects.
pub(super) struct Zone<R> {
    records: Arc<R>,
    answers: Mutex<Answers>,
    /// Lower case, with the trailing dot.
    origin: String,
    origin_name: Name,
    origin_labels: Vec<String>,
    ttl: u32,
    ns_addresses: Vec<IpAddr>,
}

/// The lower-cased labels of a name, leftmost first.
fn labels_of(name: &Name) -> Vec<String> {
    name.iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect()
}

/// The labels left of `suffix`, when `labels` ends with it.
fn below<'a>(labels: &'a [String], suffix: &[&str]) -> Option<&'a [String]> {
    let cut = labels.len().checked_sub(suffix.len())?;
    let tail = &labels[cut..];
    tail.iter()
        .zip(suffix)
        .all(|(a, b)| a == b)
        .then_some(&labels[..cut])
}

impl<R: ClusterRecords> Zone<R> {
    /// The zone `domain` (e.g. `cluster.local`) with records of `ttl` seconds; the name
    /// server `ns.dns.<domain>` has the addresses `ns_addresses` (the cluster DNS Service IP).
    pub fn new(
        records: Arc<R>,
        domain: &str,
        ttl: u32,
        ns_addresses: Vec<IpAddr>,
    ) -> Result<Self, DnsError> {
        let invalid = || DnsError::InvalidZone {
            zone: domain.to_string(),
        };
        let trimmed = domain.trim_end_matches('.').to_ascii_lowercase();
        if trimmed.is_empty() {
            return Err(invalid());
        }
        let origin = format!("{trimmed}.");
        let origin_name = Name::from_ascii(&origin).map_err(|_| invalid())?;
        Ok(Zone {
            records,
            answers: Mutex::new(Answers::default()),
            origin_labels: labels_of(&origin_name),
            origin,
            origin_name,
            ttl,
            ns_addresses,
        })
    }

    fn lookup(&self) -> Lookup<'_, R> {
        Lookup {
            records: &self.records,
            origin: &self.origin,
        }
    }

    /// The records' generation (see [`ClusterRecords::generation`]).
    pub fn generation(&self) -> Option<u64> {
        self.records.generation()
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        // Nothing holding this lock can panic without aborting the process.
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides the answer to `qname` of type `qtype` (class IN), reusing the one worked out
    /// before while the cluster objects have not changed.
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Outcome {
        let Some(generation) = self.records.generation() else {
            return self.work_out(qname, qtype);
        };
        let key = (qname.to_ascii().to_ascii_lowercase(), qtype);
        {
            let mut answers = self.answers();
            if answers.generation != generation {
                answers.generation = generation;
                answers.by_question.clear();
            } else if let Some(known) = answers.by_question.get(&key) {
                return known.clone();
            }
        }
        let outcome = self.work_out(qname, qtype);
        let mut answers = self.answers();
        if answers.generation == generation {
            if answers.by_question.len() >= MAX_ANSWERS {
                answers.by_question.clear();
            }
            answers.by_question.insert(key, outcome.clone());
        }
        outcome
    }

    fn work_out(&self, qname: &Name, qtype: RecordType) -> Outcome {
        let labels = labels_of(qname);
        let origin: Vec<&str> = self.origin_labels.iter().map(String::as_str).collect();
        if let Some(rest) = below(&labels, &origin) {
            return self.cluster(qname, rest, qtype);
        }
        for (suffix, v6) in [(["in-addr", "arpa"], false), (["ip6", "arpa"], true)] {
            if let Some(rest) = below(&labels, &suffix) {
                return self.reverse(qname, rest, v6, qtype);
            }
        }
        Outcome::Forward
    }

    /// PTR of a cluster address; everything else in the reverse zones falls through.
    fn reverse(&self, qname: &Name, rest: &[String], v6: bool, qtype: RecordType) -> Outcome {
        if qtype != RecordType::PTR {
            return Outcome::Forward;
        }
        let Some(ip) = names::reverse_address(rest, v6) else {
            return Outcome::Forward;
        };
        let names = self.lookup().names_of(ip);
        if names.is_empty() {
            return Outcome::Forward;
        }
        let answers = names
            .into_iter()
            .map(|n| self.record(qname, RData::PTR(PTR(n))))
            .collect();
        Outcome::Reply(self.positive(answers, Vec::new()))
    }

    fn cluster(&self, qname: &Name, rest: &[String], qtype: RecordType) -> Outcome {
        let apex = rest.is_empty();
        let result: Result<(Vec<Record>, Vec<Record>), Miss> = match qtype {
            RecordType::AXFR | RecordType::IXFR => {
                return Outcome::Reply(Reply {
                    rcode: ResponseCode::Refused,
                    answers: Vec::new(),
                    authority: Vec::new(),
                    additionals: Vec::new(),
                });
            }
            // The SOA lives at the apex only; below it the answer is NODATA, whether or not
            // the name exists (CoreDNS asks nothing for it).
            RecordType::SOA if apex => Ok((vec![self.soa()], Vec::new())),
            RecordType::SOA => Ok((Vec::new(), Vec::new())),
            RecordType::NS if apex => Ok(self.ns(qname)),
            RecordType::A | RecordType::AAAA => {
                match self.addresses(qname, rest, qtype, &mut Vec::new()) {
                    Ok(Addresses::Records(r)) => Ok((r, Vec::new())),
                    Ok(Addresses::Chase { chain, target }) => {
                        return Outcome::Chase { chain, target }
                    }
                    Err(m) => Err(m),
                }
            }
            RecordType::TXT => Ok((self.txt(qname, rest), Vec::new())),
            RecordType::CNAME => self.cname(qname, rest).map(|r| (r, Vec::new())),
            RecordType::SRV => self.srv(qname, rest),
            // Any other type (MX, PTR below the cluster domain, NS below the apex, …): a
            // lookup of A tells NODATA from NXDOMAIN.
            _ => self
                .services(rest, RecordType::A)
                .map(|_| (Vec::new(), Vec::new())),
        };
        Outcome::Reply(match result {
            Ok((answers, _)) if answers.is_empty() => self.negative(ResponseCode::NoError),
            Ok((answers, additionals)) => self.positive(answers, additionals),
            // Before the caches are filled a missing name may be one not seen yet.
            Err(Miss) if !self.records.has_synced() => self.negative(ResponseCode::ServFail),
            Err(Miss) => self.negative(ResponseCode::NXDomain),
        })
    }

    /// The answer once an ExternalName target outside the zone was looked up upstream:
    /// the chain and the upstream's answers, or NODATA when no upstream answered.
    pub fn chased(&self, chain: Vec<Record>, upstream: Option<Vec<Record>>) -> Reply {
        match upstream {
            Some(more) => {
                let mut answers = chain;
                answers.extend(more);
                self.positive(answers, Vec::new())
            }
            None => self.negative(ResponseCode::NoError),
        }
    }

    fn record(&self, owner: &Name, rdata: RData) -> Record {
        Record::from_rdata(owner.clone(), self.ttl, rdata)
    }

    fn positive(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Reply {
        Reply {
            rcode: ResponseCode::NoError,
            answers,
            authority: Vec::new(),
            additionals,
        }
    }

    fn negative(&self, rcode: ResponseCode) -> Reply {
        Reply {
            rcode,
            answers: Vec::new(),
            authority: vec![self.soa()],
            additionals: Vec::new(),
        }
    }

    /// CoreDNS's `Services`: the records behind a name, the name server's own name included.
    fn services(&self, rest: &[String], qtype: RecordType) -> Result<Vec<Found>, Miss> {
        if rest == ["ns", "dns"] {
            let Some(target) = self.ns_name() else {
                return Ok(Vec::new());
            };
            return Ok(self
                .ns_addresses
                .iter()
                .filter(|ip| {
                    (ip.is_ipv4() && qtype == RecordType::A)
                        || (ip.is_ipv6() && qtype == RecordType::AAAA)
                })
                .map(|ip| Found {
                    host: Host::Ip(*ip),
                    port: 0,
                    target: target.clone(),
                })
                .collect());
        }
        let found = self.lookup().records(rest)?;
        if qtype != RecordType::SRV {
            return Ok(found);
        }
        // SRV records are not made for ExternalName Services.
        Ok(found
            .into_iter()
            .filter(|f| matches!(f.host, Host::Ip(_)))
            .collect())
    }

    /// A or AAAA: each address once; an ExternalName's CNAME followed inside the zone, or
    /// handed back to be looked up upstream. `chain` holds the CNAMEs already followed.
    fn addresses(
        &self,
        qname: &Name,
        rest: &[String],
        qtype: RecordType,
        chain: &mut Vec<Record>,
    ) -> Result<Addresses, Miss> {
        let mut records = Vec::new();
        let mut seen = HashSet::new();
        for f in self.services(rest, qtype)? {
            match f.host {
                Host::Name(target) => {
                    if &target == qname || chain.len() >= MAX_CNAME_DEPTH {
                        continue;
                    }
                    let cname = self.record(qname, RData::CNAME(CNAME(target.clone())));
                    let target_labels = labels_of(&target);
                    let origin: Vec<&str> = self.origin_labels.iter().map(String::as_str).collect();
                    let Some(target_rest) = below(&target_labels, &origin) else {
                        chain.push(cname);
                        return Ok(Addresses::Chase {
                            chain: std::mem::take(chain),
                            target,
                        });
                    };
                    chain.push(cname.clone());
                    match self.addresses(&target, target_rest, qtype, chain) {
                        Ok(Addresses::Records(next)) if !next.is_empty() => {
                            records.push(cname);
                            records.extend(next);
                        }
                        Ok(chase @ Addresses::Chase { .. }) => return Ok(chase),
                        _ => {}
                    }
                    chain.pop();
                }
                Host::Ip(ip) => {
                    let wanted = match ip {
                        IpAddr::V4(_) => qtype == RecordType::A,
                        IpAddr::V6(_) => qtype == RecordType::AAAA,
                    };
                    if wanted && seen.insert(ip) {
                        records.push(self.record(qname, address_rdata(ip)));
                    }
                }
            }
        }
        Ok(Addresses::Records(records))
    }

    /// CNAME: the ExternalName's target; NODATA for names with addresses.
    fn cname(&self, qname: &Name, rest: &[String]) -> Result<Vec<Record>, Miss> {
        let found = self.services(rest, RecordType::CNAME)?;
        Ok(match found.into_iter().next() {
            Some(Found {
                host: Host::Name(target),
                ..
            }) => vec![self.record(qname, RData::CNAME(CNAME(target)))],
            _ => Vec::new(),
        })
    }

    /// SRV: one record per target and port, priority 0, the weight shared out as CoreDNS
    /// does (`100 / count`, at least 1), the targets' addresses in the additional section.
    fn srv(&self, qname: &Name, rest: &[String]) -> Result<(Vec<Record>, Vec<Record>), Miss> {
        let found = self.services(rest, RecordType::SRV)?;
        let weight = u16::try_from((100 / found.len().max(1)).max(1)).unwrap_or(1);
        let mut answers = Vec::new();
        let mut extra = Vec::new();
        let mut seen_srv = HashSet::new();
        let mut seen_addr = HashSet::new();
        for f in found {
            let Host::Ip(ip) = f.host else { continue };
            let Ok(port) = u16::try_from(f.port) else {
                continue;
            };
            if seen_srv.insert((f.target.clone(), port)) {
                let srv = SRV::new(0, weight, port, f.target.clone());
                answers.push(self.record(qname, RData::SRV(srv)));
            }
            if seen_addr.insert((f.target.clone(), ip)) {
                extra.push(self.record(&f.target, address_rdata(ip)));
            }
        }
        Ok((answers, extra))
    }
}

/// What an address lookup found.
enum Addresses {
    Records(Vec<Record>),
    Chase { chain: Vec<Record>, target: Name },
}

pub(super) fn address_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
