//! A pod's `/etc/resolv.conf`, as the kubelet writes it for each `dnsPolicy`:
//! `ClusterFirst` (and `ClusterFirstWithHostNet`) point at cluster DNS with the search path
//! `<ns>.svc.<domain> svc.<domain> <domain>` followed by the node's, and `ndots:5`; a
//! host-network pod under `ClusterFirst`, and `Default`, get the node's resolver
//! ([`crate::resolv_conf::host_resolver`]); `None` starts empty. `dnsConfig` then adds
//! nameservers and searches (duplicates dropped) and overrides options by name. The limits
//! are the kubelet's: three nameservers, 32 search domains of at most 2048 characters in all.

use k8s_openapi::api::core::v1::Pod;

use crate::resolv_conf::{ResolvConf, MAX_NAMESERVERS};

/// At most this many search domains.
const MAX_SEARCHES: usize = 32;
/// At most this many characters in the search line.
const MAX_SEARCH_CHARS: usize = 2048;

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// The pod's resolv.conf under its `dnsPolicy` and `dnsConfig`; `cluster_dns` is the DNS
/// Service's address (`None` on a node without cluster DNS, where the cluster policies fall
/// back to the node's resolver, as the kubelet does without `--cluster-dns`) and `domain`
/// the cluster domain.
pub fn for_pod(
    pod: &Pod,
    host: &ResolvConf,
    cluster_dns: Option<&str>,
    domain: &str,
) -> ResolvConf {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut conf = match (policy, cluster_dns) {
        ("None", _) => ResolvConf::default(),
        ("ClusterFirstWithHostNet", Some(dns)) => cluster(host, dns, ns, domain),
        ("ClusterFirst", Some(dns)) if !host_network => cluster(host, dns, ns, domain),
        _ => host.clone(),
    };
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        push_unique(
            &mut conf.nameservers,
            extra.nameservers.clone().unwrap_or_default(),
        );
        push_unique(
            &mut conf.searches,
            extra.searches.clone().unwrap_or_default(),
        );
        for opt in extra.options.iter().flatten() {
            let rendered = match &opt.value {
                Some(v) => format!("{}:{v}", opt.name.as_deref().unwrap_or("")),
                None => opt.name.clone().unwrap_or_default(),
            };
            let name = opt.name.as_deref().unwrap_or("");
            conf.options
                .retain(|o| o.split(':').next().unwrap_or("") != name);
            conf.options.push(rendered);
        }
    }
    conf.nameservers.truncate(MAX_NAMESERVERS);
    conf.searches.truncate(MAX_SEARCHES);
    while conf.searches.join(" ").len() > MAX_SEARCH_CHARS {
        conf.searches.pop();
    }
    conf
}

fn cluster(host: &ResolvConf, cluster_dns: &str, ns: &str, domain: &str) -> ResolvConf {
    let mut searches = vec![
        format!("{ns}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_string(),
    ];
    push_unique(&mut searches, host.searches.iter().cloned());
    ResolvConf {
        nameservers: vec![cluster_dns.to_string()],
        searches,
        options: vec!["ndots:5".to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": spec}))
        .unwrap()
    }

    fn host() -> ResolvConf {
        ResolvConf::parse("# generated\nnameserver 192.168.1.1\nsearch lan\noptions edns0\n")
    }

    #[test]
    fn cluster_first_points_at_cluster_dns_with_the_namespace_search_path() {
        let conf = for_pod(
            &pod(json!({})),
            &host(),
            Some("10.43.0.10"),
            "cluster.local",
        );
        assert_eq!(
            conf.render(),
            "search shop.svc.cluster.local svc.cluster.local cluster.local lan\n\
             nameserver 10.43.0.10\noptions ndots:5\n"
        );
        let with_host_net =
            pod(json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}));
        assert_eq!(
            for_pod(&with_host_net, &host(), Some("10.43.0.10"), "cluster.local").nameservers,
            ["10.43.0.10"]
        );
    }

    #[test]
    fn host_network_and_default_get_the_node_resolver() {
        let host_net = pod(json!({"hostNetwork": true, "dnsPolicy": "ClusterFirst"}));
        assert_eq!(
            for_pod(&host_net, &host(), Some("10.43.0.10"), "cluster.local"),
            host()
        );
        let default = pod(json!({"dnsPolicy": "Default"}));
        assert_eq!(
            for_pod(&default, &host(), Some("10.43.0.10"), "cluster.local"),
            host()
        );
        // A node without cluster DNS falls back to its own resolver.
        assert_eq!(
            for_pod(&pod(json!({})), &host(), None, "cluster.local"),
            host()
        );
    }

    #[test]
    fn none_takes_only_dns_config_and_options_override_by_name() {
        let none = pod(json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.1.1.1"], "searches": ["example.org"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}}));
        assert_eq!(
            for_pod(&none, &host(), Some("10.43.0.10"), "cluster.local").render(),
            "search example.org\nnameserver 1.1.1.1\noptions ndots:2 rotate\n"
        );
        let tuned = pod(
            json!({"dnsConfig": {"nameservers": ["10.43.0.10", "9.9.9.9"],
            "options": [{"name": "ndots", "value": "1"}]}}),
        );
        let conf = for_pod(&tuned, &host(), Some("10.43.0.10"), "cluster.local");
        assert_eq!(conf.nameservers, ["10.43.0.10", "9.9.9.9"]);
        assert_eq!(conf.options, ["ndots:1"]);
    }

    #[test]
    fn limits_are_kept() {
        let many = pod(json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"],
            "searches": (0..40).map(|i| format!("d{i}.example")).collect::<Vec<_>>()}}));
        let conf = for_pod(&many, &host(), Some("10.43.0.10"), "cluster.local");
        assert_eq!(conf.nameservers.len(), 3);
        assert_eq!(conf.searches.len(), 32);
    }
}
