//! The endpoints controllers, as kube-controller-manager's endpoints, EndpointSlice and
//! EndpointSlice mirroring controllers in one: for every Service with a selector it keeps
//! the `Endpoints` object of the same name ([`endpoints_object`]) and the Service's
//! EndpointSlices ([`slices`]) in line with the pods the selector matches ([`desired`]); for a
//! Service without one it mirrors a hand-written `Endpoints` into slices ([`mirroring`]).
//! A pod change queues only the Services of its namespace whose selectors match it, and
//! only when something an endpoint shows changed (address, readiness, deletion, ports,
//! hostname, labels), so a readiness change reaches the slices, and the proxy and DNS that
//! read them, at once.

pub mod desired;
pub mod endpoints_object;
pub mod mirroring;
pub mod slices;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};
use tracing::Instrument;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Change, Informer, Informers, Key, Unserved};
use crate::client::options::{DeleteOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::endpoints as endpoints_kind;
use crate::resources::endpointslice::{self, MANAGED_BY_LABEL};

/// The `managed-by` value of the slices made from pods.
pub const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";
/// How long written slices may take to show in the cache before the controller stops
/// waiting for them.
const WRITE_SETTLE: Duration = Duration::from_secs(5);

/// Slices this controller wrote for a Service and the cache has not shown yet.
struct Written {
    at: Instant,
    /// Names with the resourceVersion the write answered.
    seen: Vec<(String, u64)>,
    deleted: Vec<String>,
}

/// The controller and what it reads.
pub struct EndpointsController<C: Client> {
    client: C,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
    slices: Informer<EndpointSlice>,
    written: Mutex<HashMap<Key, Written>>,
}

/// What of a pod an endpoint shows; a pod change that leaves it alone concerns no Service.
fn endpoint_view(p: &Pod) -> impl PartialEq + '_ {
    let spec = p.spec.as_ref();
    let status = p.status.as_ref();
    (
        &p.metadata.labels,
        p.metadata.deletion_timestamp.is_some(),
        status.and_then(|s| s.pod_ip.as_ref()),
        status.and_then(|s| s.phase.as_ref()),
        super::pods::is_ready(p),
        spec.and_then(|s| s.node_name.as_ref()),
        spec.and_then(|s| s.hostname.as_ref()),
        spec.and_then(|s| s.subdomain.as_ref()),
        spec.map(|s| s.containers.iter().map(|c| &c.ports).collect::<Vec<_>>()),
    )
}

fn managed_by(s: &EndpointSlice) -> &str {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .map_or("", String::as_str)
}

fn revision_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

impl<C: Client> EndpointsController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<Service>, WorkQueue), Unserved> {
        let services = informers.get::<Service>()?;
        let pods = informers.get::<Pod>()?;
        let endpoints = informers.get::<Endpoints>()?;
        let slices = informers.get::<EndpointSlice>()?;
        slices.add_index(endpointslice::BY_SERVICE_INDEX, endpointslice::service_of);
        let queue = WorkQueue::default();
        {
            let (services, queue) = (services.clone(), queue.clone());
            pods.on_change(move |c: &Change<Pod>| {
                let changed: Vec<&Pod> = match c {
                    Change::Added(p) | Change::Deleted(p) => vec![&**p],
                    Change::Updated { old, new } => {
                        if endpoint_view(old) == endpoint_view(new) {
                            return;
                        }
                        vec![&**old, &**new]
                    }
                };
                let ns = changed[0].metadata.namespace.as_deref().unwrap_or_default();
                for svc in services.list_namespace(ns) {
                    let Some(sel) = desired::selector(&svc) else {
                        continue;
                    };
                    if changed.iter().any(|p| desired::selects(sel, p)) {
                        queue.add(key_of(&*svc));
                    }
                }
            });
        }
        {
            let (services, queue) = (services.clone(), queue.clone());
            endpoints.on_change(move |c: &Change<Endpoints>| {
                let key = key_of(&**c.object());
                if services.get(&key.0, &key.1).is_some() {
                    queue.add(key);
                }
            });
        }
        {
            let (services, queue) = (services.clone(), queue.clone());
            slices.on_change(move |c: &Change<EndpointSlice>| {
                for svc in endpointslice::service_of(c.object()) {
                    if let Some((ns, name)) = svc.split_once('/') {
                        if services.get(ns, name).is_some() {
                            queue.add((ns.to_string(), name.to_string()));
                        }
                    }
                }
            });
        }
        Ok((
            EndpointsController {
                client: informers.client().clone(),
                services: services.clone(),
                pods,
                endpoints,
                slices,
                written: Mutex::new(HashMap::new()),
            },
            services,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (s, p, e, sl) = (
            self.services.clone(),
            self.pods.clone(),
            self.endpoints.clone(),
            self.slices.clone(),
        );
        async move {
            s.wait_synced().await;
            p.wait_synced().await;
            e.wait_synced().await;
            sl.wait_synced().await;
        }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Written>> {
        // Nothing holding this lock can panic without aborting the process.
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the cache still lags this controller's last slice writes for `key`.
    fn cache_lags(&self, key: &Key) -> bool {
        let mut written = self.written();
        let Some(w) = written.get(key) else {
            return false;
        };
        let shown = w.seen.iter().all(|(name, rv)| {
            self.slices.get(&key.0, name).is_some_and(|s| {
                s.metadata
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v >= *rv)
            })
        }) && w
            .deleted
            .iter()
            .all(|n| self.slices.get(&key.0, n).is_none());
        if shown || w.at.elapsed() > WRITE_SETTLE {
            written.remove(key);
            return false;
        }
        true
    }

    /// This Service's slices kept by `manager`.
    fn slices_of(&self, key: &Key, manager: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices
            .by_index(
                endpointslice::BY_SERVICE_INDEX,
                &format!("{}/{}", key.0, key.1),
            )
            .into_iter()
            .filter(|s| managed_by(s) == manager)
            .collect()
    }

    /// Writes the `Endpoints` object `wanted` unless the cache already shows it.
    async fn write_endpoints(&self, key: &Key, wanted: Value) -> Result<(), ApiError> {
        let rt = &endpoints_kind::RESOURCE;
        let Some(current) = self.endpoints.get(&key.0, &key.1) else {
            return self.client.create(rt, &key.0, wanted).await.map(drop);
        };
        let current = serde_json::to_value(&*current).unwrap_or(Value::Null);
        let same = |path: &str| current.pointer(path) == wanted.pointer(path);
        if same("/subsets")
            && same("/metadata/labels")
            && same("/metadata/annotations/endpoints.kubernetes.io~1over-capacity")
        {
            return Ok(());
        }
        let annotation = wanted
            .pointer("/metadata/annotations/endpoints.kubernetes.io~1over-capacity")
            .cloned()
            .unwrap_or(Value::Null);
        let patch = json!({
            "metadata": {
                "labels": wanted["metadata"]["labels"],
                "annotations": {endpoints_object::OVER_CAPACITY: annotation},
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
            "subsets": wanted.get("subsets").cloned().unwrap_or(Value::Null),
        });
        let replace_labels = json!({"metadata": {"labels": null}});
        // Labels the Service dropped must go too: a merge patch only adds and changes keys.
        let stale_labels = current["metadata"]["labels"].as_object().is_some_and(|l| {
            l.keys()
                .any(|k| wanted["metadata"]["labels"].get(k).is_none())
        });
        if stale_labels {
            self.client
                .patch(
                    rt,
                    &key.0,
                    &key.1,
                    PatchType::Merge,
                    &replace_labels,
                    Subresource::Main,
                )
                .await?;
        }
        self.client
            .patch(
                rt,
                &key.0,
                &key.1,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await
            .map(drop)
    }

    /// Carries out `plan` for the Service at `key`, remembering what the cache should show.
    async fn apply(&self, key: &Key, plan: slices::Plan) -> Result<(), ApiError> {
        if plan.is_empty() {
            return Ok(());
        }
        let rt = &endpointslice::RESOURCE;
        let mut seen = Vec::new();
        let mut deleted = Vec::new();
        let mut result = Ok(());
        for (name, patch) in &plan.update {
            match self
                .client
                .patch(rt, &key.0, name, PatchType::Merge, patch, Subresource::Main)
                .await
            {
                Ok(obj) => seen.push((name.clone(), revision_of(&obj))),
                Err(e) => result = Err(e),
            }
        }
        for body in plan.create {
            match self.client.create(rt, &key.0, body).await {
                Ok(obj) => seen.push((
                    crate::resources::meta::name_of(&obj).to_string(),
                    revision_of(&obj),
                )),
                Err(e) => result = Err(e),
            }
        }
        for name in plan.delete {
            match self
                .client
                .delete(rt, &key.0, &name, &DeleteOptions::default())
                .await
            {
                Ok(()) => deleted.push(name),
                Err(e) if e.code == 404 => deleted.push(name),
                Err(e) => result = Err(e),
            }
        }
        self.written().insert(
            key.clone(),
            Written {
                at: Instant::now(),
                seen,
                deleted,
            },
        );
        result
    }
}

impl<C: Client> Controller for EndpointsController<C> {
    type Kind = Service;

    fn name(&self) -> &'static str {
        "endpoint-controller"
    }

    async fn reconcile(&self, svc: Arc<Service>) -> Result<Action, ApiError> {
        let key = key_of(&*svc);
        if self.cache_lags(&key) {
            // The slices' own events queue the Service again once they arrive.
            return Ok(Action::RequeueAfter(WRITE_SETTLE));
        }
        let span = tracing::debug_span!("endpoints", namespace = %key.0, name = %key.1);
        self.sync(&key, &svc).instrument(span).await?;
        Ok(Action::Done)
    }

    /// The Service is gone: its `Endpoints`, if this controller wrote it, goes too (its
    /// slices are the garbage collector's, through their owner reference).
    fn forget(&self, key: &Key) {
        self.forget_service(key);
    }
}

impl<C: Client> EndpointsController<C> {
    /// Brings the Service's Endpoints and slices in line with its pods or hand-written
    /// Endpoints.
    async fn sync(&self, key: &Key, svc: &Service) -> Result<(), ApiError> {
        let external = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName");
        if desired::selector(svc).is_some() {
            let pods = self.pods.list_namespace(&key.0);
            let all = desired::endpoints(svc, pods.iter().map(|p| &**p), true);
            let publish = desired::publishes_unready(svc);
            let legacy: Vec<desired::Endpoint> = all
                .iter()
                .filter(|e| publish || !e.terminating)
                .cloned()
                .collect();
            self.write_endpoints(key, endpoints_object::desired(svc, &legacy))
                .await?;
            let mut plan = slices::plan(
                svc,
                slices::contents(svc, &all),
                &self.slices_of(key, SLICE_MANAGER),
                SLICE_MANAGER,
            );
            plan.delete.extend(
                self.slices_of(key, mirroring::MANAGED_BY)
                    .iter()
                    .filter_map(|s| s.metadata.name.clone()),
            );
            return self.apply(key, plan).await;
        }
        let mirrored = self
            .endpoints
            .get(&key.0, &key.1)
            .filter(|e| !external && mirroring::mirrors(e));
        let mut plan = match mirrored {
            Some(ep) => slices::plan(
                svc,
                mirroring::contents(&ep),
                &self.slices_of(key, mirroring::MANAGED_BY),
                mirroring::MANAGED_BY,
            ),
            None => slices::Plan {
                delete: self
                    .slices_of(key, mirroring::MANAGED_BY)
                    .iter()
                    .filter_map(|s| s.metadata.name.clone())
                    .collect(),
                ..Default::default()
            },
        };
        plan.delete.extend(
            self.slices_of(key, SLICE_MANAGER)
                .iter()
                .filter_map(|s| s.metadata.name.clone()),
        );
        self.apply(key, plan).await
    }

    fn forget_service(&self, key: &Key) {
        self.written().remove(key);
        let ours = self
            .endpoints
            .get(&key.0, &key.1)
            .is_some_and(|e| !mirroring::mirrors(&e));
        if !ours {
            return;
        }
        let (client, key) = (self.client.clone(), key.clone());
        // One request, not a long-running task: it ends on its own.
        tokio::spawn(async move {
            let rt = &endpoints_kind::RESOURCE;
            match client
                .delete(rt, &key.0, &key.1, &DeleteOptions::default())
                .await
            {
                Ok(()) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(namespace = %key.0, name = %key.1, error = %e, "cannot delete the endpoints of a deleted service")
                }
            }
        });
    }
}
