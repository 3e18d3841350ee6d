//! Pod networking: network namespaces, the node bridge, veth pairs, pod IPs.
