//! The built-in load balancer, as k3s' ServiceLB: a `type: LoadBalancer` Service is answered
//! on every node's address (each node's proxy takes its ports there), so its
//! `status.loadBalancer.ingress` lists the addresses of the ready nodes (all nodes while none
//! is ready), `ipMode: VIP`. Ports are the nodes' own: a Service whose port and protocol an
//! older LoadBalancer Service already holds stays pending, with an event, until the port is
//! free. Services with a `loadBalancerClass` belong to another controller; a Service that is
//! no longer a LoadBalancer loses its ingress.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use serde_json::{json, Value};

use super::runtime::Controller;
use super::status_patch::patch_status;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::events::{reference, EventRecorder, EventType};
use crate::client::informer::{key_of, Change, Informer, Informers, Unserved};
use crate::client::status::ApiError;
use crate::client::Client;

/// The component name events carry.
pub const COMPONENT: &str = "service-lb-controller";

/// The controller and what it reads.
pub struct ServiceLbController<C: Client> {
    client: C,
    services: Informer<Service>,
    nodes: Informer<Node>,
    events: EventRecorder<C>,
}

fn is_load_balancer(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer") && s.load_balancer_class.is_none()
    })
}

/// The (protocol, port) pairs a LoadBalancer Service takes on every node.
fn ports(svc: &Service) -> BTreeSet<(String, i32)> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
        .collect()
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A node's addresses a LoadBalancer answers on: its ExternalIPs, else its InternalIPs.
fn node_ips(node: &Node) -> Vec<String> {
    let addrs: Vec<_> = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let of = |kind: &str| -> Vec<String> {
        addrs
            .iter()
            .filter(|a| a.type_ == kind)
            .map(|a| a.address.clone())
            .collect()
    };
    let external = of("ExternalIP");
    if external.is_empty() {
        of("InternalIP")
    } else {
        external
    }
}

/// What of a node the ingress shows.
fn node_view(node: &Node) -> (bool, Vec<String>) {
    (is_ready(node), node_ips(node))
}

/// The ingress addresses: the ready nodes', or every node's while none is ready.
pub fn ingress_ips(nodes: &[Arc<Node>]) -> Vec<String> {
    let ready: BTreeSet<String> = nodes
        .iter()
        .filter(|n| is_ready(n))
        .flat_map(|n| node_ips(n))
        .collect();
    if !ready.is_empty() {
        return ready.into_iter().collect();
    }
    let all: BTreeSet<String> = nodes.iter().flat_map(|n| node_ips(n)).collect();
    all.into_iter().collect()
}

fn has_ingress(svc: &Service) -> bool {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|i| !i.is_empty())
}

/// The first (protocol, port) of `svc` an older LoadBalancer Service among `all` holds, and
/// that Service's name. Older: created earlier; within the same second (timestamps count
/// seconds) the one already served, then by namespace and name.
pub fn port_taken_by(svc: &Service, all: &[Arc<Service>]) -> Option<((String, i32), String)> {
    let order = |s: &Service| {
        (
            s.metadata.creation_timestamp.clone().map(|t| t.0),
            !has_ingress(s),
            s.metadata.namespace.clone(),
            s.metadata.name.clone(),
        )
    };
    let mine = ports(svc);
    all.iter()
        .filter(|o| is_load_balancer(o) && order(o) < order(svc))
        .find_map(|o| {
            let theirs = ports(o);
            mine.iter().find(|p| theirs.contains(p)).map(|p| {
                let name = format!(
                    "{}/{}",
                    o.metadata.namespace.as_deref().unwrap_or_default(),
                    o.metadata.name.as_deref().unwrap_or_default()
                );
                (p.clone(), name)
            })
        })
}

impl<C: Client> ServiceLbController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<Service>, WorkQueue), Unserved> {
        let services = informers.get::<Service>()?;
        let nodes = informers.get::<Node>()?;
        let queue = WorkQueue::default();
        {
            let (services, queue) = (services.clone(), queue.clone());
            nodes.on_change(move |c: &Change<Node>| {
                if let Change::Updated { old, new } = c {
                    if node_view(old) == node_view(new) {
                        return;
                    }
                }
                for s in services.list().iter().filter(|s| is_load_balancer(s)) {
                    queue.add(key_of(&**s));
                }
            });
        }
        {
            // A LoadBalancer Service that goes frees its ports for the next one. (The replay
            // of objects already held when the handler is added brings only additions, so
            // the cache is never read under its own lock.)
            let (all, queue) = (services.clone(), queue.clone());
            services.on_change(move |c: &Change<Service>| {
                if let Change::Deleted(gone) | Change::Updated { old: gone, .. } = c {
                    if is_load_balancer(gone) {
                        for s in all.list().iter().filter(|s| is_load_balancer(s)) {
                            queue.add(key_of(&**s));
                        }
                    }
                }
            });
        }
        Ok((
            ServiceLbController {
                events: EventRecorder::new(informers.client().clone(), COMPONENT),
                client: informers.client().clone(),
                services: services.clone(),
                nodes,
            },
            services,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (s, n) = (self.services.clone(), self.nodes.clone());
        async move {
            s.wait_synced().await;
            n.wait_synced().await;
        }
    }
}

impl<C: Client> Controller for ServiceLbController<C> {
    type Kind = Service;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, svc: Arc<Service>) -> Result<Action, ApiError> {
        let current = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
            .unwrap_or_else(|| json!([]));
        let wanted: Value = if !is_load_balancer(&svc) {
            if svc
                .spec
                .as_ref()
                .and_then(|s| s.load_balancer_class.as_ref())
                .is_some()
            {
                return Ok(Action::Done);
            }
            json!([])
        } else if let Some(((proto, port), holder)) = port_taken_by(&svc, &self.services.list()) {
            // Recorded at every look; the recorder folds repeats into one Event's count.
            self.events.record(
                &reference(&*svc),
                EventType::Warning,
                "PortInUse",
                "Pending",
                &format!(
                    "port {port}/{proto} of every node is taken by LoadBalancer service {holder}"
                ),
            );
            json!([])
        } else {
            ingress_ips(&self.nodes.list())
                .into_iter()
                .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
                .collect()
        };
        if wanted == current {
            return Ok(Action::Done);
        }
        let ingress = if wanted == json!([]) {
            Value::Null
        } else {
            wanted
        };
        patch_status(
            &self.client,
            &*svc,
            json!({"loadBalancer": {"ingress": ingress}}),
        )
        .await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, ready: bool) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name}, "status": {
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}]}}))
            .unwrap(),
        )
    }

    fn lb(name: &str, created: &str, port: i32) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default",
                "creationTimestamp": created},
                "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]}}))
            .unwrap(),
        )
    }

    #[test]
    fn ingress_is_the_ready_nodes_or_all_while_none_is() {
        let nodes = vec![
            node("pi-1", "192.168.1.11", true),
            node("pi-2", "192.168.1.12", false),
            node("pi-3", "192.168.1.10", true),
        ];
        assert_eq!(ingress_ips(&nodes), ["192.168.1.10", "192.168.1.11"]);
        let down = vec![node("pi-2", "192.168.1.12", false)];
        assert_eq!(ingress_ips(&down), ["192.168.1.12"]);
    }

    #[test]
    fn the_older_service_keeps_a_shared_port() {
        let first = lb("web", "2026-01-01T00:00:00Z", 80);
        let second = lb("shop", "2026-02-01T00:00:00Z", 80);
        let other = lb("mqtt", "2026-03-01T00:00:00Z", 1883);
        let all = vec![first.clone(), second.clone(), other.clone()];
        assert_eq!(port_taken_by(&first, &all), None);
        assert_eq!(
            port_taken_by(&second, &all),
            Some((("TCP".into(), 80), "default/web".into()))
        );
        assert_eq!(port_taken_by(&other, &all), None);
    }
}
