//! The objects a name below the cluster domain stands for, as CoreDNS's `kubernetes` plugin
//! finds them (`Records`, `findServices`, `findPods` in plugin/kubernetes/kubernetes.go): each
//! a host (an address, or a name for an ExternalName Service), a port and the name the
//! record is published under (the SRV target). An empty list is a name that exists with no
//! records (NODATA); [`Miss`] is a name that does not exist (NXDOMAIN).

use std::net::IpAddr;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service;

use super::names::{self, Request, Scope};
use super::source::{self, ClusterRecords};

/// A name that does not exist (CoreDNS's `errNoItems`, `errInvalidRequest`,
/// `errNsNotExposed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Miss;

/// What a found record points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
    /// An address: A or AAAA.
    Ip(IpAddr),
    /// A name: the CNAME of an ExternalName Service.
    Name(Name),
}

/// One record source (CoreDNS's `msg.Service`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// Where it points.
    pub host: Host,
    /// The port, -1 for an EndpointSlice without ports (no SRV record then).
    pub port: i32,
    /// The name it is published under: `<svc>.<ns>.svc.<zone>`, or with the endpoint's label
    /// in front for endpoints.
    pub target: Name,
}

/// Looks up names below one cluster domain.
pub(super) struct Lookup<'a, R> {
    /// The cluster objects.
    pub records: &'a R,
    /// The cluster domain, lower case, with the trailing dot (`cluster.local.`).
    pub origin: &'a str,
}

impl<R: ClusterRecords> Lookup<'_, R> {
    /// The name `<labels>.<origin>`, or `None` when the labels make no valid name.
    pub fn name(&self, labels: &[&str]) -> Option<Name> {
        let mut text = labels.join(".");
        text.push('.');
        text.push_str(self.origin);
        Name::from_ascii(text).ok()
    }

    /// The records behind the labels left of the zone (CoreDNS's `Records`).
    pub fn records(&self, below: &[String]) -> Result<Vec<Found>, Miss> {
        let r = names::parse(below).map_err(|_| Miss)?;
        let (Some(scope), Some(namespace)) = (r.scope, r.namespace.as_deref()) else {
            return Ok(Vec::new());
        };
        if !self.records.namespace_exists(namespace) {
            return Err(Miss);
        }
        match scope {
            Scope::Pod => self.pod(namespace, &r),
            Scope::Svc => self.services(namespace, &r),
        }
    }

    /// `pods insecure`: any address in an existing namespace answers, with no check that a
    /// pod has it.
    fn pod(&self, namespace: &str, r: &Request) -> Result<Vec<Found>, Miss> {
        let Some(label) = r.service.as_deref() else {
            return Ok(Vec::new());
        };
        let ip = names::pod_address(label).ok_or(Miss)?;
        let target = self.name(&[label, namespace, "pod"]).ok_or(Miss)?;
        Ok(vec![Found {
            host: Host::Ip(ip),
            port: 0,
            target,
        }])
    }

    fn services(&self, namespace: &str, r: &Request) -> Result<Vec<Found>, Miss> {
        let Some(name) = r.service.as_deref() else {
            return Ok(Vec::new());
        };
        let svc = self.records.service(namespace, name).ok_or(Miss)?;
        let found = if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            self.external(namespace, name, &svc, r)
        } else if source::is_headless(&svc) || r.endpoint.is_some() {
            self.endpoints(namespace, name, r)
        } else {
            self.cluster_ips(namespace, name, &svc, r)
        };
        if found.is_empty() {
            return Err(Miss);
        }
        Ok(found)
    }

    /// An ExternalName Service is a CNAME to `spec.externalName`; it has no endpoints, and an
    /// address there is no name to point at.
    fn external(&self, namespace: &str, name: &str, svc: &Service, r: &Request) -> Vec<Found> {
        if r.endpoint.is_some() {
            return Vec::new();
        }
        let Some(external) = svc.spec.as_ref().and_then(|s| s.external_name.as_deref()) else {
            return Vec::new();
        };
        if external.is_empty() || external.parse::<IpAddr>().is_ok() {
            return Vec::new();
        }
        let text = if external.ends_with('.') {
            external.to_string()
        } else {
            format!("{external}.")
        };
        let (Ok(host), Some(target)) =
            (Name::from_ascii(text), self.name(&[name, namespace, "svc"]))
        else {
            return Vec::new();
        };
        vec![Found {
            host: Host::Name(host),
            port: 0,
            target,
        }]
    }

    /// Every ready address of every EndpointSlice of the Service, once per matching port; an
    /// endpoint label in the name picks the endpoints known by it.
    fn endpoints(&self, namespace: &str, name: &str, r: &Request) -> Vec<Found> {
        let mut found = Vec::new();
        for slice in self.records.endpoint_slices(namespace, name) {
            let ports: Vec<(i32, &str, &str)> = match slice.ports.as_deref() {
                Some(ports) if !ports.is_empty() => ports
                    .iter()
                    .map(|p| {
                        (
                            p.port.unwrap_or(-1),
                            p.name.as_deref().unwrap_or(""),
                            p.protocol.as_deref().unwrap_or(""),
                        )
                    })
                    .collect(),
                // No ports: one stand-in, so the addresses still answer A queries.
                _ => vec![(-1, "", "")],
            };
            for ep in slice.endpoints.iter().filter(|e| source::endpoint_ready(e)) {
                for addr in &ep.addresses {
                    let Ok(ip) = addr.parse::<IpAddr>() else {
                        continue;
                    };
                    let label = names::endpoint_label(ep.hostname.as_deref(), addr);
                    if let Some(wanted) = r.endpoint.as_deref() {
                        if !wanted.eq_ignore_ascii_case(&label) {
                            continue;
                        }
                    }
                    let Some(target) = self.name(&[&label, name, namespace, "svc"]) else {
                        continue;
                    };
                    for (port, port_name, protocol) in &ports {
                        if names::port_matches(r.port.as_deref(), port_name)
                            && names::port_matches(r.protocol.as_deref(), protocol)
                        {
                            found.push(Found {
                                host: Host::Ip(ip),
                                port: *port,
                                target: target.clone(),
                            });
                        }
                    }
                }
            }
        }
        found
    }

    /// Each cluster IP, once per matching Service port.
    fn cluster_ips(&self, namespace: &str, name: &str, svc: &Service, r: &Request) -> Vec<Found> {
        let Some(target) = self.name(&[name, namespace, "svc"]) else {
            return Vec::new();
        };
        let ips = source::cluster_ips(svc);
        let mut found = Vec::new();
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[]);
        for p in ports {
            let port_name = p.name.as_deref().unwrap_or("");
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            if !(names::port_matches(r.port.as_deref(), port_name)
                && names::port_matches(r.protocol.as_deref(), protocol))
            {
                continue;
            }
            for ip in &ips {
                found.push(Found {
                    host: Host::Ip(*ip),
                    port: p.port,
                    target: target.clone(),
                });
            }
        }
        found
    }
}
