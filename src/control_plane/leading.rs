//! What only one server of a cluster runs at a time: the controllers kube-controller-manager
//! runs, while this server holds the `kube-controller-manager` Lease, and the scheduler,
//! while it holds `kube-scheduler`. Each runs on informers of its own that stop with it, so
//! a later term starts afresh with no handler of an earlier one left registered.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cidr::Ipv4Cidr;
use crate::client::informer::Informers;
use crate::client::LocalClient;
use crate::controllers::certificates::{approver, cleaner, kubelet_csr, signer};
use crate::controllers::clusterrole_aggregation::ClusterRoleAggregationController;
use crate::controllers::crd::CrdController;
use crate::controllers::cronjob::CronJobController;
use crate::controllers::daemonset::DaemonSetController;
use crate::controllers::deployment::DeploymentController;
use crate::controllers::disruption::DisruptionController;
use crate::controllers::endpoints::EndpointsController;
use crate::controllers::event_ttl::{EventTtlController, EVENT_TTL};
use crate::controllers::garbage_collector::GarbageCollector;
use crate::controllers::job::JobController;
use crate::controllers::node_ipam::{NodeIpamController, NODE_CIDR_PREFIX};
use crate::controllers::node_lifecycle::NodeLifecycleController;
use crate::controllers::replicaset::{ReplicaSetController, ReplicationManager};
use crate::controllers::service_accounts::ServiceAccountsController;
use crate::controllers::service_lb::ServiceLbController;
use crate::controllers::statefulset::StatefulSetController;
use crate::controllers::taint_eviction::TaintEvictionController;
use crate::controllers::token_cleaner::TokenCleaner;
use crate::controllers::token_secrets::TokenSecretsController;
use crate::controllers::volume_binding::{claims::ClaimBinder, volumes::VolumeBinder};
use crate::controllers::{namespace::NamespaceController, runtime};
use crate::scheduler::run::Scheduler;

/// Starts an informer-driven controller made by `$made` (its constructor's result), or logs
/// why it cannot run.
macro_rules! start {
    ($tasks:expr, $shutdown:expr, $what:literal, $made:expr) => {
        match $made {
            Ok((c, primary, queue)) => {
                let ready = c.ready();
                $tasks.spawn(runtime::run(c, primary, queue, ready, $shutdown.clone()));
            }
            Err(e) => tracing::error!(error = %e, concat!("the ", $what, " controller cannot run")),
        }
    };
}

/// What the controllers need of the server's settings.
pub(super) struct ControllerSettings {
    /// The cluster CA, published in service account token secrets and `kube-root-ca.crt`.
    pub ca_pem: String,
    /// The cluster's pod network, split into node ranges.
    pub cluster_cidr: Ipv4Cidr,
    /// How long a silent kubelet's node stays Ready.
    pub node_monitor_grace: Duration,
    /// What the CSR controllers need.
    pub certificates: CertificateSettings,
}

/// What the CSR approver and signer need.
pub(super) struct CertificateSettings {
    /// The API server's names and addresses, which no kubelet serving certificate may carry.
    api: kubelet_csr::ApiServerNames,
    /// The cluster CA with its key, to sign with; `None` (logged) when it cannot be read.
    ca: Option<Arc<crate::pki::ClusterCa>>,
    /// The longest lifetime of a signed certificate.
    lifetime: Duration,
}

/// The CSR controllers' settings from the server's PKI in `pki_dir`.
pub(super) fn certificate_settings(
    pki: &crate::pki::Pki,
    pki_dir: &std::path::Path,
    lifetime: Duration,
) -> CertificateSettings {
    let (mut dns, ips) = pki.server_names();
    dns.extend(
        crate::pki::IN_CLUSTER_DNS_NAMES
            .iter()
            .map(|d| d.to_string()),
    );
    let ca = match crate::pki::ClusterCa::load(pki_dir) {
        Ok(ca) => Some(Arc::new(ca)),
        Err(e) => {
            tracing::error!(error = %e, "the csr signing controller cannot run");
            None
        }
    };
    CertificateSettings {
        api: kubelet_csr::ApiServerNames { dns, ips },
        ca,
        lifetime,
    }
}

/// Runs every controller until `stop`.
pub(super) async fn controllers(
    client: LocalClient,
    settings: Arc<ControllerSettings>,
    stop: CancellationToken,
) {
    let informers = Informers::new(client, stop.clone());
    let mut tasks = JoinSet::new();
    start!(
        tasks,
        stop,
        "namespace",
        NamespaceController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "custom resource definition",
        CrdController::new(&informers)
    );
    start!(tasks, stop, "claim binder", ClaimBinder::new(&informers));
    start!(tasks, stop, "volume binder", VolumeBinder::new(&informers));
    start!(
        tasks,
        stop,
        "service account",
        ServiceAccountsController::new(&informers, settings.ca_pem.clone())
    );
    start!(
        tasks,
        stop,
        "service account token secret",
        TokenSecretsController::new(&informers, settings.ca_pem.clone())
    );
    start!(
        tasks,
        stop,
        "node ipam",
        NodeIpamController::new(&informers, settings.cluster_cidr, NODE_CIDR_PREFIX)
    );
    start!(
        tasks,
        stop,
        "node lifecycle",
        NodeLifecycleController::new(&informers, settings.node_monitor_grace)
    );
    start!(
        tasks,
        stop,
        "taint eviction",
        TaintEvictionController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "replicaset",
        ReplicaSetController::<_, k8s_openapi::api::apps::v1::ReplicaSet>::new(&informers)
    );
    start!(
        tasks,
        stop,
        "replication",
        ReplicationManager::new(&informers)
    );
    start!(
        tasks,
        stop,
        "deployment",
        DeploymentController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "statefulset",
        StatefulSetController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "daemonset",
        DaemonSetController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "disruption",
        DisruptionController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "endpoints",
        EndpointsController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "service load balancer",
        ServiceLbController::new(&informers)
    );
    start!(tasks, stop, "job", JobController::new(&informers));
    start!(tasks, stop, "cronjob", CronJobController::new(&informers));
    tasks.spawn(GarbageCollector::new(&informers).run(stop.clone()));
    start!(
        tasks,
        stop,
        "clusterrole aggregation",
        ClusterRoleAggregationController::new(&informers)
    );
    start!(
        tasks,
        stop,
        "event ttl",
        EventTtlController::new(&informers, EVENT_TTL)
    );
    start!(
        tasks,
        stop,
        "bootstrap token cleaner",
        TokenCleaner::new(&informers)
    );
    let certs = &settings.certificates;
    start!(
        tasks,
        stop,
        "csr approving",
        approver::CsrApprover::new(&informers, certs.api.clone())
    );
    if let Some(ca) = &certs.ca {
        start!(
            tasks,
            stop,
            "csr signing",
            signer::CsrSigner::new(&informers, ca.clone(), certs.lifetime)
        );
    }
    start!(
        tasks,
        stop,
        "csr cleaner",
        cleaner::CsrCleaner::new(&informers)
    );
    while tasks.join_next().await.is_some() {}
    informers.stopped().await;
}

/// Runs the scheduler until `stop`.
pub(super) async fn scheduler(client: LocalClient, stop: CancellationToken) {
    let informers = Informers::new(client, stop.clone());
    match Scheduler::new(&informers) {
        Ok(s) => s.run(stop).await,
        Err(e) => tracing::error!(error = %e, "the scheduler cannot run"),
    }
    informers.stopped().await;
}
