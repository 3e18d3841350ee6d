//! The pod's sandbox, prepared once before its first container: volumes (with the
//! ConfigMaps, Secrets and service account tokens they project, and the PersistentVolumes
//! their claims are bound to), the network namespace and address, the shared IPC and UTS
//! namespaces, and the files every container mounts (`/etc/hosts`, `/etc/hostname`,
//! `resolv.conf`).

use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::events::{self, PodRef};
use super::volume_refresh::{VolumeMeta, VOLUME_REFRESH};
use super::{Sandbox, Worker};
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::checkpoint;
use crate::kubelet::container_spec::{etc_hosts, pod_resolv_conf};
use crate::kubelet::container_start::StartError;
use crate::kubelet::runtime::spec::PodNamespaces;
use crate::kubelet::sandbox;
use crate::kubelet::storage::claims;
use crate::kubelet::volume::{self, PrefetchedSources};
use crate::resolv_conf;
use crate::resources::{configmap, secret};

impl Worker {
    pub(super) async fn prepare<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        pod: &Pod,
    ) -> Result<(), StartError> {
        if self.sandbox.is_some() {
            return Ok(());
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let mut sources = prefetch(ctx, &ns, pod, None).await;
        // A claim that is not Bound (or whose PV is elsewhere) keeps the pod ContainerCreating.
        let claims = claims::resolve(&ctx.client, &ctx.node, pod)
            .await
            .map_err(creating)?;
        for (claim, volume) in claims {
            sources.claims.insert((ns.clone(), claim), volume);
        }
        let (vm, typed_pod, lookup) = (ctx.volumes.clone(), pod.clone(), sources.clone());
        let volumes = match tokio::task::spawn_blocking(move || vm.setup(&typed_pod, &lookup))
            .await
            .map_err(creating)?
        {
            Ok(v) => v,
            Err(e) => {
                let e = creating(e);
                // upstream's FailedMount warning, once per distinct failure (sync retries)
                if !self
                    .containers
                    .values()
                    .any(|t| t.waiting.as_ref() == Some(&e))
                {
                    events::warning(ctx, &PodRef::of_pod(pod), "FailedMount", &e.message);
                }
                return Err(e);
            }
        };
        let host_network = spec.host_network.unwrap_or(false);
        let (network, pod_ip) = if host_network {
            (None, ctx.host_ip.clone())
        } else {
            let info = ctx
                .network
                .setup(&self.uid, &name)
                .await
                .map_err(creating)?;
            (Some(info.netns_path), info.ip.to_string())
        };
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let (root, uid) = (ctx.sandbox_dir.clone(), self.uid.clone());
        let sb = tokio::task::spawn_blocking(move || sandbox::ensure(&root, &uid, &hostname))
            .await
            .map_err(creating)?
            .map_err(creating)?;
        let pod_dir = ctx.volumes.pod_dir(&self.uid);
        // a pod without volumes has no directory yet
        std::fs::create_dir_all(&pod_dir).map_err(|e| StartError {
            reason: "ContainerCreating".into(),
            message: format!("creating {}: {e}", pod_dir.display()),
        })?;
        let hosts = etc_hosts::etc_hosts(pod, std::slice::from_ref(&pod_ip), &ctx.cluster_domain);
        std::fs::write(pod_dir.join("etc-hosts"), hosts).map_err(creating)?;
        let (host, _) = etc_hosts::pod_hostname_and_domain(pod, &ctx.cluster_domain);
        std::fs::write(pod_dir.join("etc-hostname"), etc_hosts::etc_hostname(&host))
            .map_err(creating)?;
        let resolv = pod_resolv_conf::for_pod(
            pod,
            &resolv_conf::read_host_resolver(),
            ctx.cluster_dns.as_deref(),
            &ctx.cluster_domain,
        );
        std::fs::write(pod_dir.join("resolv.conf"), resolv.render()).map_err(creating)?;
        self.sandbox = Some(Sandbox {
            volumes,
            namespaces: PodNamespaces {
                network,
                ipc: Some(sb.ipc),
                uts: Some(sb.uts),
                pid: None,
            },
            pod_ip,
            pod_dir,
            sources,
            volume_meta: VolumeMeta::of(pod),
            next_volume_refresh: Instant::now() + VOLUME_REFRESH,
        });
        Ok(())
    }
}

/// A sandbox step failed: the containers wait in `ContainerCreating` with the cause.
fn creating(e: impl std::fmt::Display) -> StartError {
    StartError {
        reason: "ContainerCreating".into(),
        message: e.to_string(),
    }
}

/// The ConfigMaps and Secrets the pod's volumes and containers' env name, and the service
/// account tokens its projected volumes need (a token the API refused is kept as its
/// error). Each object and token the API gives is recorded in the node's checkpoint; one
/// the API could not answer for (other than NotFound) is taken from `previous`, or else
/// from the checkpoint, so a refresh or a start during an outage has what the pod had.
pub(super) async fn prefetch<C: Client>(
    ctx: &NodeContext<C>,
    ns: &str,
    pod: &Pod,
    previous: Option<&PrefetchedSources>,
) -> PrefetchedSources {
    let (maps, secrets) = checkpoint::referenced_objects(pod);
    let mut out = PrefetchedSources::default();
    let key = |name: &str| (ns.to_string(), name.to_string());
    for name in maps {
        match ctx.client.get(&configmap::RESOURCE, ns, &name).await {
            Ok(obj) => {
                ctx.checkpoint.put_config_map(ns, &name, &obj);
                if let Ok(t) = serde_json::from_value(obj) {
                    out.insert_config_map(t);
                }
            }
            Err(e) if e.code == 404 => {}
            Err(_) => {
                if let Some(old) = previous.and_then(|p| p.config_maps.get(&key(&name))) {
                    out.insert_config_map(old.clone());
                } else if let Some(saved) = ctx.checkpoint.config_map(ns, &name) {
                    if let Ok(t) = serde_json::from_value(saved) {
                        out.insert_config_map(t);
                    }
                }
            }
        }
    }
    for name in secrets {
        match ctx.client.get(&secret::RESOURCE, ns, &name).await {
            Ok(obj) => {
                ctx.checkpoint.put_secret(ns, &name, &obj);
                if let Ok(t) = serde_json::from_value(obj) {
                    out.insert_secret(t);
                }
            }
            Err(e) if e.code == 404 => {}
            Err(_) => {
                if let Some(old) = previous.and_then(|p| p.secrets.get(&key(&name))) {
                    out.insert_secret(old.clone());
                } else if let Some(saved) = ctx.checkpoint.secret(ns, &name) {
                    if let Ok(t) = serde_json::from_value(saved) {
                        out.insert_secret(t);
                    }
                }
            }
        }
    }
    for request in volume::token_requests(pod) {
        let token = match ctx.tokens.token(&ctx.client, &request).await {
            Ok(t) => {
                ctx.checkpoint.put_token(&request, &t);
                Ok(t)
            }
            Err(e) => match previous
                .and_then(|p| p.tokens.get(&request))
                .and_then(|t| t.clone().ok())
                .or_else(|| ctx.checkpoint.token(&request))
            {
                Some(saved) => Ok(saved),
                None => Err(e.to_string()),
            },
        };
        out.tokens.insert(request, token);
    }
    out
}

/// The `.dockerconfigjson` payloads of the pod's `imagePullSecrets`.
pub(super) async fn pull_secrets<C: Client>(ctx: &NodeContext<C>, pod: &Pod) -> Vec<Vec<u8>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Vec::new();
    for r in pod
        .spec
        .iter()
        .flat_map(|s| s.image_pull_secrets.iter().flatten())
    {
        let Ok(obj) = ctx.client.get(&secret::RESOURCE, ns, &r.name).await else {
            continue;
        };
        let data = obj
            .pointer("/data/.dockerconfigjson")
            .and_then(Value::as_str)
            .unwrap_or("");
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
            out.push(bytes);
        }
    }
    out
}
