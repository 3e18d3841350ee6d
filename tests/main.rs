//! The end-to-end tests, one module per behaviour, built as one test binary. They drive the
//! real `bramble` binary, kubectl, runc, an OCI registry, network namespaces, nftables and
//! mounts as a user would. One binary is linked once: a binary per file carried its own
//! copy of the library and its dependencies (about 100 MB each with line tables).
//! cargo-nextest still runs each test in a process of its own, so no two tests share a
//! server, a bridge name or the environment.

mod support;

mod agent_failover;
mod agent_join;
mod api_errors;
mod api_metrics;
mod batch_controllers;
mod batch_kinds;
mod board_check;
mod board_install;
mod bramble_ctl;
mod certificate_rotation;
mod client_libraries;
mod cluster_dns;
mod connection_limits;
mod container_security;
mod crash_durability;
mod custom_resources;
mod daemonset;
mod devices;
mod empty_dir_eviction;
mod ephemeral_containers;
mod failed_pod_cleanup;
mod git_repo_volume;
mod ha_servers;
mod host_path_policy;
mod host_path_symlink_swap;
mod image_auth;
mod image_import_gc;
mod image_pull;
mod interactive;
mod join_tokens;
mod kube_rs;
mod kubectl_apply_pod;
mod kubectl_explain;
mod kubectl_logs_exec;
mod kubectl_protobuf;
mod kubectl_tables;
mod kubelet_pod_features;
mod kubelet_probes;
mod kubelet_resources;
mod kubelet_runs_pod;
mod leader_election;
mod list_watch_semantics;
mod local_disk_claims;
mod local_disk_volumes;
mod local_storage;
mod nat_agent;
mod network_pods;
mod node_authorization;
mod node_health;
mod node_stats;
mod object_lifecycle;
mod offline_agent;
mod persistent_volumes;
mod pod_security;
mod port_forward;
mod rbac;
mod request_bounds;
mod runtime_containers;
mod runtime_reap_exec;
mod scheduler_placement;
mod server_side_apply;
mod service_accounts;
mod service_endpoints;
mod service_routing;
mod statefulset;
mod static_pods;
mod store_sync;
mod volume_mounts;
mod volume_scheduling;
mod workload_kinds;
mod workloads;
