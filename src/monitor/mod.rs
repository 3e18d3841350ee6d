//! What cAdvisor and the kubelet's stats provider do: container, pod and node statistics
//! sampled from cgroup v1 and v2 and `/proc` into fixed-size (`heapless`) histories, and the
//! kubelet's read-only endpoints over them (`/stats/summary`, `/metrics/cadvisor`,
//! `/metrics/resource`).
