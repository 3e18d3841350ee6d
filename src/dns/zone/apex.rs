//! The records at the zone's apex, as CoreDNS writes them (plugin/backend_lookup.go `SOA`,
//! `NS`; plugin/kubernetes `nsAddrs`, and the `dns-version` TXT of the Kubernetes DNS
//! specification): the SOA that also closes every negative answer, the name server
//! `ns.dns.<zone>` with the cluster DNS Service's addresses, and the schema version.

use hickory_proto::rr::rdata::{NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record};

use super::{address_rdata, Zone};
use crate::dns::source::ClusterRecords;

/// The schema version `dns-version.<zone>` answers (Kubernetes DNS specification 1.1.0).
const SCHEMA_VERSION: &str = "1.1.0";
/// The TTL of the `dns-version` TXT record, as CoreDNS gives it.
const SCHEMA_TTL: u32 = 28800;

impl<R: ClusterRecords> Zone<R> {
    /// `ns.dns.<zone>`, the name server's name.
    pub(super) fn ns_name(&self) -> Option<Name> {
        self.lookup().name(&["ns", "dns"])
    }

    /// The zone's SOA, as CoreDNS writes it: TTL and minimum the record TTL (at most 300 s
    /// for the TTL), serial the time of the last change.
    pub(super) fn soa(&self) -> Record {
        let mname = self.ns_name().unwrap_or_else(|| self.origin_name.clone());
        let rname = self
            .lookup()
            .name(&["hostmaster"])
            .unwrap_or_else(|| self.origin_name.clone());
        let soa = SOA::new(
            mname,
            rname,
            self.records.serial(),
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(self.origin_name.clone(), self.ttl.min(300), RData::SOA(soa))
    }

    /// NS at the apex, as CoreDNS's `nsAddrs` finds it: each cluster DNS address under the
    /// name of the Service holding it (`kube-dns.kube-system.svc.<zone>` in a k3s cluster),
    /// else under `ns.dns.<zone>`; the addresses in the additional section.
    pub(super) fn ns(&self, qname: &Name) -> (Vec<Record>, Vec<Record>) {
        let mut answers: Vec<Record> = Vec::new();
        let mut extra = Vec::new();
        for ip in &self.ns_addresses {
            let service = self
                .records
                .services_with_cluster_ip(*ip)
                .into_iter()
                .find_map(|svc| {
                    let m = &svc.metadata;
                    let (ns, name) = (m.namespace.as_deref()?, m.name.as_deref()?);
                    self.lookup().name(&[name, ns, "svc"])
                });
            let Some(host) = service.or_else(|| self.ns_name()) else {
                continue;
            };
            extra.push(self.record(&host, address_rdata(*ip)));
            let ns = self.record(qname, RData::NS(NS(host)));
            if !answers.contains(&ns) {
                answers.push(ns);
            }
        }
        (answers, extra)
    }

    /// TXT: only `dns-version.<zone>`; any other name is NODATA, as CoreDNS answers.
    pub(super) fn txt(&self, qname: &Name, rest: &[String]) -> Vec<Record> {
        if rest != ["dns-version"] {
            return Vec::new();
        }
        let txt = RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()]));
        vec![Record::from_rdata(qname.clone(), SCHEMA_TTL, txt)]
    }
}
