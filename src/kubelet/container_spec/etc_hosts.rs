//! The per-pod `/etc/hosts` and `/etc/hostname` contents, as upstream's kubelet writes them
//! (`managedHostsFileContent`, `hostsEntriesFromHostAliases`, `GeneratePodHostNameAndDomain`).

use k8s_openapi::api::core::v1::Pod;

/// Header of the hosts file of a pod with its own network namespace.
const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.\n";
/// Header of the hosts file of a `hostNetwork` pod (the node's file follows it).
const MANAGED_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";

/// Upstream's limit on a hostname (one DNS label).
const HOSTNAME_MAX_LEN: usize = 63;

/// The pod's hostname and its DNS domain (`<subdomain>.<namespace>.svc.<cluster-domain>`).
///
/// The hostname is `spec.hostname`, else the pod name cut to 63 characters with trailing `-`
/// and `.` removed (upstream `truncatePodHostnameIfNeeded`).
pub fn pod_hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let hostname = match spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
    {
        Some(h) => h.to_string(),
        None => {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            if name.len() > HOSTNAME_MAX_LEN {
                name.get(..HOSTNAME_MAX_LEN)
                    .unwrap_or(name)
                    .trim_end_matches(['-', '.'])
                    .to_string()
            } else {
                name.to_string()
            }
        }
    };
    let domain = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            format!("{sub}.{ns}.svc.{cluster_domain}")
        });
    (hostname, domain)
}

/// `hostAliases` entries: a blank line, a comment, then one line per IP with its names.
fn host_alias_lines(pod: &Pod) -> String {
    let aliases = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.as_deref())
        .unwrap_or_default();
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        let names = alias.hostnames.as_deref().unwrap_or_default().join("\t");
        out.push_str(&format!("{}\t{}\n", alias.ip, names));
    }
    out
}

/// The `/etc/hosts` the kubelet writes for a pod with its own network namespace: localhost
/// entries, each pod IP with the pod's hostname (fully qualified first when the pod has a
/// `subdomain`), then `hostAliases`.
pub fn etc_hosts(pod: &Pod, pod_ips: &[String], cluster_domain: &str) -> String {
    let (hostname, domain) = pod_hostname_and_domain(pod, cluster_domain);
    let mut out = String::from(MANAGED_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match &domain {
            Some(domain) => out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_alias_lines(pod));
    out
}

/// The `/etc/hosts` of a `hostNetwork` pod: the node's own file plus `hostAliases`.
pub fn etc_hosts_host_network(pod: &Pod, node_hosts: &str) -> String {
    let mut out = String::from(MANAGED_HEADER_HOST_NETWORK);
    out.push_str(node_hosts);
    out.push_str(&host_alias_lines(pod));
    out
}

/// The `/etc/hostname` of a container: the hostname and a newline, as containerd writes it.
pub fn etc_hostname(hostname: &str) -> String {
    format!("{hostname}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn hosts_file_matches_the_kubelet() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "prod"},
            "spec": {"containers": [], "hostAliases": [
                {"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}
        }));
        assert_eq!(
            etc_hosts(&p, &["10.42.0.7".into()], "cluster.local"),
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             10.42.0.7\tweb-0\n\
             \n\
             # Entries added by HostAliases.\n\
             10.1.2.3\tfoo.local\tbar.local\n"
        );
    }

    #[test]
    fn hostname_and_subdomain() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "prod"},
            "spec": {"containers": [], "hostname": "db", "subdomain": "svc1"}
        }));
        let hosts = etc_hosts(&p, &["10.42.0.7".into()], "cluster.local");
        assert!(hosts.ends_with("10.42.0.7\tdb.svc1.prod.svc.cluster.local\tdb\n"));
        let long = format!("{}-{}", "a".repeat(62), "b");
        let p = pod(serde_json::json!({"metadata": {"name": long}, "spec": {"containers": []}}));
        assert_eq!(
            pod_hostname_and_domain(&p, "cluster.local").0,
            "a".repeat(62)
        );
        let host = etc_hosts_host_network(&p, "127.0.0.1 localhost\n");
        assert_eq!(
            host,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
        );
        assert_eq!(etc_hostname("db"), "db\n");
    }
}
