//! Reverse names of cluster addresses, as CoreDNS's `kubernetes` plugin gives them
//! (plugin/kubernetes/reverse.go): a cluster IP is `<svc>.<ns>.svc.<zone>` (the first
//! Service holding it), otherwise every ready endpoint with that address is
//! `<endpoint label>.<svc>.<ns>.svc.<zone>`. An address that is neither is not the cluster's:
//! the query goes to the upstream resolvers (`fallthrough in-addr.arpa ip6.arpa`).

use std::net::IpAddr;

use hickory_proto::rr::Name;

use super::lookup::Lookup;
use super::names;
use super::source::{self, ClusterRecords, SERVICE_NAME_LABEL};

impl<R: ClusterRecords> Lookup<'_, R> {
    /// The names of `ip`, without duplicates; empty when the cluster does not know it.
    pub fn names_of(&self, ip: IpAddr) -> Vec<Name> {
        for svc in self.records.services_with_cluster_ip(ip) {
            let m = &svc.metadata;
            let (Some(ns), Some(name)) = (m.namespace.as_deref(), m.name.as_deref()) else {
                continue;
            };
            if let Some(n) = self.name(&[name, ns, "svc"]) {
                return vec![n];
            }
        }
        let mut out: Vec<Name> = Vec::new();
        for slice in self.records.slices_with_address(ip) {
            let ns = slice.metadata.namespace.as_deref().unwrap_or("");
            let Some(svc) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            for ep in slice.endpoints.iter().filter(|e| source::endpoint_ready(e)) {
                for addr in &ep.addresses {
                    if addr.parse::<IpAddr>().ok() != Some(ip) {
                        continue;
                    }
                    let label = names::endpoint_label(ep.hostname.as_deref(), addr);
                    if let Some(n) = self.name(&[&label, svc, ns, "svc"]) {
                        if !out.contains(&n) {
                            out.push(n);
                        }
                    }
                }
            }
        }
        out
    }
}
