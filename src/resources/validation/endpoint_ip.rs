//! Upstream's `ValidateEndpointIP`: an endpoint address must be an IP a Service can route to,
//! so not the unspecified, loopback, link-local or link-local multicast ranges (a proxy would
//! otherwise send Service traffic to the node itself).

use std::net::IpAddr;

use serde_json::json;

use crate::resources::FieldError;

/// The errors of `ip` as an endpoint address at `path`.
pub fn validate_endpoint_ip(ip: &str, path: &str) -> Vec<FieldError> {
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return vec![FieldError::invalid(
            path,
            &json!(ip),
            "must be a valid IP address",
        )];
    };
    let why = match addr {
        _ if addr.is_unspecified() => "may not be unspecified (0.0.0.0)",
        _ if addr.is_loopback() => "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        IpAddr::V4(v4) if v4.is_link_local() => {
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => {
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
        }
        IpAddr::V4(v4) if v4.octets()[..3] == [224, 0, 0] => {
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xff00 && v6.segments()[0] & 0xf == 2 => {
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
        }
        _ => return Vec::new(),
    };
    vec![FieldError::invalid(path, &json!(ip), why)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routable_addresses_pass_and_node_local_ones_do_not() {
        assert!(validate_endpoint_ip("10.42.0.5", "ip").is_empty());
        assert!(validate_endpoint_ip("fd00::5", "ip").is_empty());
        for bad in [
            "10.42.0",
            "0.0.0.0",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.5",
            "::1",
            "fe80::1",
        ] {
            let errs = validate_endpoint_ip(bad, "subsets[0].addresses[0].ip");
            assert_eq!(errs.len(), 1, "{bad}");
            assert_eq!(errs[0].field, "subsets[0].addresses[0].ip");
        }
    }
}
