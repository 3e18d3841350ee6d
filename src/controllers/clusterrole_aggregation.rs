//! The ClusterRole aggregation controller, as upstream's `clusterroleaggregation`: a
//! ClusterRole with an `aggregationRule` gets as its `rules` those of every ClusterRole its
//! selectors pick (`resources::rbac::aggregation`), and follows their changes: any
//! ClusterRole's change queues every aggregating one. Chains settle by themselves: `edit`
//! changing queues `admin` again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::json;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Change, Informer, Informers, Key, Unserved};
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::rbac::aggregation::aggregated_rules;
use crate::resources::rbac::cluster_role;

/// The controller's name in logs.
pub const COMPONENT: &str = "clusterrole-aggregation-controller";

/// The controller and what it reads.
pub struct ClusterRoleAggregationController<C: Client> {
    client: C,
    roles: Informer<ClusterRole>,
}

impl<C: Client> ClusterRoleAggregationController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
    ) -> Result<(Self, Informer<ClusterRole>, WorkQueue), Unserved> {
        let roles = informers.get::<ClusterRole>()?;
        let queue = WorkQueue::default();
        // The aggregating roles, kept by the handler itself: it must not read the cache,
        // which the replay of objects already held runs under.
        let aggregating: Arc<Mutex<BTreeSet<Key>>> = Arc::default();
        {
            let queue = queue.clone();
            roles.on_change(move |change: &Change<ClusterRole>| {
                let mut set = aggregating.lock().unwrap_or_else(PoisonError::into_inner);
                match change {
                    Change::Added(role) | Change::Updated { new: role, .. } => {
                        if role.aggregation_rule.is_some() {
                            set.insert(key_of(&**role));
                        } else {
                            set.remove(&key_of(&**role));
                        }
                    }
                    Change::Deleted(role) => {
                        set.remove(&key_of(&**role));
                    }
                }
                for key in set.iter() {
                    queue.add(key.clone());
                }
            });
        }
        Ok((
            ClusterRoleAggregationController {
                client: informers.client().clone(),
                roles: roles.clone(),
            },
            roles,
            queue,
        ))
    }

    /// Resolves once the ClusterRole informer has listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let roles = self.roles.clone();
        async move { roles.wait_synced().await }
    }
}

impl<C: Client> Controller for ClusterRoleAggregationController<C> {
    type Kind = ClusterRole;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, role: Arc<ClusterRole>) -> Result<Action, ApiError> {
        let all = self.roles.list();
        let all: Vec<&ClusterRole> = all.iter().map(|r| &**r).collect();
        let Some(rules) = aggregated_rules(&role, &all) else {
            return Ok(Action::Done);
        };
        if rules == role.rules.clone().unwrap_or_default() {
            return Ok(Action::Done);
        }
        let name = role.metadata.name.clone().unwrap_or_default();
        tracing::debug!(role = %name, rules = rules.len(), "aggregating cluster role rules");
        match self
            .client
            .patch(
                &cluster_role::RESOURCE,
                "",
                &name,
                PatchType::Merge,
                &json!({"rules": rules}),
                Subresource::Main,
            )
            .await
        {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.code == 404 => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use super::*;
    use crate::client::LocalClient;

    fn role(name: &str, label: Option<&str>, resource: &str) -> Value {
        let labels = label.map(|l| json!({ l: "true" })).unwrap_or(json!({}));
        json!({"metadata": {"name": name, "labels": labels},
               "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": [resource]}]})
    }

    async fn rules_of(client: &LocalClient, name: &str) -> Value {
        let role = client.get(&cluster_role::RESOURCE, "", name).await.unwrap();
        role.get("rules").cloned().unwrap_or(json!([]))
    }

    /// Polls until the aggregated role's resources are `want`, failing after ten seconds.
    async fn wait_for(client: &LocalClient, name: &str, want: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rules = rules_of(client, name).await;
            let have: Vec<&str> = rules
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["resources"][0].as_str())
                .collect();
            if have == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} has {rules}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn aggregated_rules_follow_the_selected_roles() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let label = "example.com/aggregate-to-readers";
        let rt = &cluster_role::RESOURCE;
        client
            .create(rt, "", role("b-pods", Some(label), "pods"))
            .await
            .unwrap();
        client
            .create(rt, "", role("other", None, "secrets"))
            .await
            .unwrap();
        let readers = json!({"metadata": {"name": "readers"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}});
        client.create(rt, "", readers).await.unwrap();

        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        let (c, primary, queue) = ClusterRoleAggregationController::new(&informers).unwrap();
        let ready = c.ready();
        let task = tokio::spawn(super::super::runtime::run(
            c,
            primary,
            queue,
            ready,
            shutdown.clone(),
        ));

        wait_for(&client, "readers", &["pods"]).await;
        client
            .create(rt, "", role("a-nodes", Some(label), "nodes"))
            .await
            .unwrap();
        // By the selected roles' names: a-nodes before b-pods.
        wait_for(&client, "readers", &["nodes", "pods"]).await;
        client
            .delete(rt, "", "b-pods", &Default::default())
            .await
            .unwrap();
        wait_for(&client, "readers", &["nodes"]).await;

        shutdown.cancel();
        task.await.unwrap();
    }
}
