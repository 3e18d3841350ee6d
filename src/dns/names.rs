//! How a name below the cluster domain is read, as CoreDNS's `kubernetes` plugin reads it
//! (plugin/kubernetes/parse.go): counted from the right, `svc` or `pod`, then the namespace,
//! then the Service (or the pod's dashed address), then either one endpoint label or the two
//! labels `_port._protocol`. Longer names are invalid (NXDOMAIN). Also the names the plugin
//! gives endpoints (`endpointHostname`) and pods, and the address a reverse name stands for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether a name is about Services or pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// `…svc.<zone>`.
    Svc,
    /// `…pod.<zone>`.
    Pod,
}

/// A name below the zone, split into its parts; absent parts are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Request {
    /// `svc` or `pod`; `None` for the apex and for `svc.<zone>` / `pod.<zone>` themselves.
    pub scope: Option<Scope>,
    /// The namespace label.
    pub namespace: Option<String>,
    /// The Service name (or, under `pod`, the dashed address).
    pub service: Option<String>,
    /// One label left of the Service: an endpoint's hostname or dashed address.
    pub endpoint: Option<String>,
    /// `_port` of an SRV-style name, underscore stripped (may be empty: any port).
    pub port: Option<String>,
    /// `_protocol` of an SRV-style name, underscore stripped (may be empty: any protocol).
    pub protocol: Option<String>,
}

/// A name the plugin would not answer: NXDOMAIN (CoreDNS's `errInvalidRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid;

/// Reads the labels left of the zone (lower-cased, leftmost first).
pub(super) fn parse(labels: &[String]) -> Result<Request, Invalid> {
    let mut r = Request::default();
    // The apex, `svc.<zone>` and `pod.<zone>` are names that exist and hold no records.
    if labels.is_empty() || (labels.len() == 1 && (labels[0] == "svc" || labels[0] == "pod")) {
        return Ok(r);
    }
    let mut rest = labels.iter().rev();
    r.scope = match rest.next().map(String::as_str) {
        Some("svc") => Some(Scope::Svc),
        Some("pod") => Some(Scope::Pod),
        _ => return Err(Invalid),
    };
    r.namespace = rest.next().cloned();
    r.service = rest.next().cloned();
    let mut left: Vec<&String> = rest.collect();
    left.reverse();
    match left.as_slice() {
        [] => {}
        [endpoint] => r.endpoint = Some((*endpoint).clone()),
        [port, protocol] => {
            r.port = Some(strip_underscore(port).to_string());
            r.protocol = Some(strip_underscore(protocol).to_string());
        }
        _ => return Err(Invalid),
    }
    Ok(r)
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

/// Whether a wanted `_port` or `_protocol` (absent or empty: any) matches a port's name or
/// protocol, ignoring case (CoreDNS's `matchPortAndProtocol`).
pub(super) fn port_matches(wanted: Option<&str>, actual: &str) -> bool {
    match wanted {
        None | Some("") => true,
        Some(w) => w.eq_ignore_ascii_case(actual),
    }
}

/// The label an endpoint is known by: its `hostname`, else its address with `.` or `:`
/// written as `-` (CoreDNS's `endpointHostname`).
pub(super) fn endpoint_label(hostname: Option<&str>, addr: &str) -> String {
    match hostname {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => addr.replace(['.', ':'], "-"),
    }
}

/// The address a pod name (`1-2-3-4`, or an IPv6 address with `-` for `:`) stands for, read
/// as CoreDNS's `findPods` does: three dashes and no `--` is IPv4, anything else IPv6.
pub(super) fn pod_address(label: &str) -> Option<IpAddr> {
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    text.parse().ok()
}

/// The address a reverse name stands for: `d.c.b.a.in-addr.arpa` or the 32 nibbles of
/// `ip6.arpa`, given as lower-cased labels left of the reverse zone; `None` for anything else
/// (a partial name, a label that is not a number).
pub(super) fn reverse_address(labels: &[String], v6: bool) -> Option<IpAddr> {
    if v6 {
        if labels.len() != 32 {
            return None;
        }
        let mut bits: u128 = 0;
        for label in labels.iter().rev() {
            let [c] = label.as_bytes() else { return None };
            let nibble = (*c as char).to_digit(16)?;
            bits = (bits << 4) | u128::from(nibble);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(bits)));
    }
    if labels.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, label) in labels.iter().rev().enumerate() {
        // Decimal octets only, as written by `dig -x`: no sign, no leading `+`.
        if label.is_empty() || !label.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets[i] = label.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<String> {
        if s.is_empty() {
            return Vec::new();
        }
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn names_are_read_from_the_right() {
        let r = parse(&labels("web.default.svc")).unwrap();
        assert_eq!(r.scope, Some(Scope::Svc));
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.service.as_deref(), Some("web"));
        let r = parse(&labels("_http._tcp.web.default.svc")).unwrap();
        assert_eq!(
            (r.port.as_deref(), r.protocol.as_deref()),
            (Some("http"), Some("tcp"))
        );
        let r = parse(&labels("web-0.web.default.svc")).unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("web-0"));
        assert_eq!(parse(&labels("")).unwrap(), Request::default());
        assert_eq!(parse(&labels("svc")).unwrap(), Request::default());
        assert_eq!(parse(&labels("pod")).unwrap(), Request::default());
        assert_eq!(parse(&labels("a.b.c.web.default.svc")), Err(Invalid));
        assert_eq!(parse(&labels("web.default.nodes")), Err(Invalid));
    }

    #[test]
    fn endpoints_and_pods_are_named_by_dashed_addresses() {
        assert_eq!(endpoint_label(None, "10.42.0.5"), "10-42-0-5");
        assert_eq!(endpoint_label(Some("web-0"), "10.42.0.5"), "web-0");
        assert_eq!(endpoint_label(None, "fd00::5"), "fd00--5");
        assert_eq!(pod_address("10-42-0-5"), Some("10.42.0.5".parse().unwrap()));
        assert_eq!(pod_address("fd00--5"), Some("fd00::5".parse().unwrap()));
        assert_eq!(pod_address("web"), None);
        assert_eq!(pod_address("1-2-3-999"), None);
    }

    #[test]
    fn reverse_names_give_whole_addresses_only() {
        assert_eq!(
            reverse_address(&labels("10.0.43.10"), false),
            Some("10.43.0.10".parse().unwrap())
        );
        assert_eq!(reverse_address(&labels("0.43.10"), false), None);
        assert_eq!(reverse_address(&labels("x.0.43.10"), false), None);
        assert_eq!(reverse_address(&labels("+1.0.43.10"), false), None);
        let six: Vec<String> = "fd000000000000000000000000000001"
            .chars()
            .rev()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(six.len(), 32);
        assert_eq!(
            reverse_address(&six, true),
            Some("fd00::1".parse().unwrap())
        );
    }
}
