//! One sync of a Deployment, as upstream's `syncDeployment`: find its sets, make the set of
//! the current template, then move replicas by the strategy. RollingUpdate scales the new
//! set up within `replicas + maxSurge` and old sets down while `replicas - maxUnavailable`
//! pods stay available (unavailable old pods first); Recreate scales old sets to zero and
//! starts the new one only once their pods are gone. A paused Deployment only scales.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::revision::{revision_of, runs_template};
use super::{sets, status, DeploymentController};
use crate::client::informer::key_of;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::Action;

fn replicas_of(s: &ReplicaSet) -> i32 {
    s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available_of(s: &ReplicaSet) -> i32 {
    s.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// An int-or-percent of `total`, percentages rounded up or down as upstream.
fn scaled(v: Option<&IntOrString>, default_percent: i32, total: i32, round_up: bool) -> i32 {
    let percent = |p: i64| {
        let product = i64::from(total).saturating_mul(p);
        let n = if round_up {
            (product + 99).div_euclid(100)
        } else {
            product.div_euclid(100)
        };
        i32::try_from(n).unwrap_or(i32::MAX)
    };
    match v {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(0, percent),
        None => percent(i64::from(default_percent)),
    }
}

/// `maxSurge` and `maxUnavailable` resolved against the replicas (upstream's
/// `ResolveFenceposts`: both zero means one may be unavailable).
pub(super) fn fenceposts(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let rolling = spec
        .and_then(|s| s.strategy.as_ref())
        .filter(|s| s.type_.as_deref() != Some("Recreate"))
        .and_then(|s| s.rolling_update.as_ref());
    if spec
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
    {
        return (0, 0);
    }
    let surge = scaled(
        rolling.and_then(|r| r.max_surge.as_ref()),
        25,
        replicas,
        true,
    )
    .max(0);
    let mut unavailable = scaled(
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        25,
        replicas,
        false,
    )
    .max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(replicas))
}

/// Brings `d`'s sets one step closer to its spec and writes its status.
pub(super) async fn sync<C: Client>(
    c: &DeploymentController<C>,
    d: &Arc<Deployment>,
) -> Result<Action, ApiError> {
    let Some(spec) = d.spec.as_ref() else {
        return Ok(Action::Done);
    };
    let all = c.owned_sets(d);
    if d.metadata.deletion_timestamp.is_some() {
        return status::update(c, d, None, &all, false).await;
    }
    let (surge, _) = fenceposts(d);
    let replicas = spec.replicas.unwrap_or(1);
    let paused = spec.paused == Some(true);
    let max_revision = all.iter().map(|s| revision_of(s)).max().unwrap_or(0);
    // The oldest set running the template is the new one.
    let mut new = all
        .iter()
        .filter(|s| runs_template(s, &spec.template))
        .min_by_key(|s| s.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .cloned();
    let mut created = false;
    let mut revision = 0;
    if let Some(n) = &new {
        // A rollback reuses an old set: it becomes the newest revision.
        let others = all
            .iter()
            .filter(|s| s.metadata.uid != n.metadata.uid)
            .map(|s| revision_of(s))
            .max()
            .unwrap_or(0);
        revision = revision_of(n);
        if revision <= others {
            revision = others.saturating_add(1);
            sets::set_revision(c, n, revision).await?;
        }
    } else if !paused {
        let olds_total: i32 = all.iter().map(|s| replicas_of(s)).sum();
        let start = if is_recreate(d) {
            if olds_total == 0 && !old_pods_remain(c, &all) {
                replicas
            } else {
                0
            }
        } else {
            (replicas.saturating_add(surge) - olds_total).clamp(0, replicas)
        };
        revision = max_revision.saturating_add(1);
        new = Some(Arc::new(sets::create(c, d, start, surge, revision).await?));
        created = true;
    }
    // The Deployment carries its current revision too (`kubectl rollout undo` patches it).
    sets::note_revision(c, d, revision).await?;
    let olds: Vec<Arc<ReplicaSet>> = all
        .iter()
        .filter(|s| {
            new.as_ref()
                .map_or(true, |n| n.metadata.uid != s.metadata.uid)
        })
        .cloned()
        .collect();
    if paused {
        // Only scale: the new set (or the newest old one) gets the difference.
        let target = new
            .clone()
            .or_else(|| olds.iter().max_by_key(|s| revision_of(s)).cloned());
        if let Some(t) = target {
            let others: i32 = all
                .iter()
                .filter(|s| s.metadata.uid != t.metadata.uid)
                .map(|s| replicas_of(s))
                .sum();
            sets::scale(c, d, &t, (replicas - others).max(0), surge).await?;
        }
    } else if let Some(n) = &new {
        if is_recreate(d) {
            recreate(c, d, n, &olds).await?;
        } else {
            rolling(c, d, n, &olds).await?;
        }
        cleanup(c, d, &olds).await?;
    }
    let all_now = c.owned_sets(d);
    let new_now = new.and_then(|n| {
        all_now
            .iter()
            .find(|s| s.metadata.uid == n.metadata.uid)
            .cloned()
    });
    status::update(c, d, new_now.as_deref(), &all_now, created).await
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// Whether pods of the given sets still exist (Recreate waits for them to go).
fn old_pods_remain<C: Client>(c: &DeploymentController<C>, sets: &[Arc<ReplicaSet>]) -> bool {
    sets.iter().any(|s| {
        let uid = s.metadata.uid.as_deref().unwrap_or_default();
        !c.pods
            .by_index(crate::controllers::pods::BY_CONTROLLER, uid)
            .is_empty()
    })
}

async fn recreate<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    new: &ReplicaSet,
    olds: &[Arc<ReplicaSet>],
) -> Result<(), ApiError> {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    for old in olds.iter().filter(|s| replicas_of(s) > 0) {
        sets::scale(c, d, old, 0, 0).await?;
    }
    let olds_running = olds
        .iter()
        .any(|s| replicas_of(s) > 0 || s.status.as_ref().is_some_and(|st| st.replicas > 0));
    if olds_running || old_pods_remain(c, olds) {
        return Ok(());
    }
    sets::scale(c, d, new, replicas, 0).await
}

async fn rolling<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    new: &ReplicaSet,
    olds: &[Arc<ReplicaSet>],
) -> Result<(), ApiError> {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let (surge, unavailable) = fenceposts(d);
    let new_replicas = replicas_of(new);
    let olds_total: i32 = olds.iter().map(|s| replicas_of(s)).sum();
    // Scale the new set up (or down to the target) first.
    if new_replicas > replicas {
        return sets::scale(c, d, new, replicas, surge).await;
    }
    if new_replicas < replicas {
        let room = replicas.saturating_add(surge) - (olds_total + new_replicas);
        let up = room.min(replicas - new_replicas);
        if up > 0 {
            return sets::scale(c, d, new, new_replicas + up, surge).await;
        }
    } else {
        sets::scale(c, d, new, replicas, surge).await?;
    }
    if olds_total == 0 {
        return Ok(());
    }
    // Then old sets down, keeping replicas - maxUnavailable available.
    let min_available = replicas - unavailable;
    let new_unavailable = (new_replicas - available_of(new)).max(0);
    let all_total = olds_total + new_replicas;
    let mut budget = all_total - min_available - new_unavailable;
    if budget <= 0 {
        return Ok(());
    }
    let mut olds: Vec<Arc<ReplicaSet>> = olds.to_vec();
    olds.sort_by_key(|s| s.metadata.creation_timestamp.as_ref().map(|t| t.0));
    // Unhealthy old pods go first: they cost no availability.
    let mut scaled_to: Vec<i32> = olds.iter().map(|s| replicas_of(s)).collect();
    for (i, s) in olds.iter().enumerate() {
        let unhealthy = (scaled_to[i] - available_of(s)).max(0);
        let down = unhealthy.min(budget);
        if down > 0 {
            scaled_to[i] -= down;
            budget -= down;
        }
    }
    // Then available ones, while the available total stays above the minimum.
    let available_total: i32 =
        olds.iter().map(|s| available_of(s)).sum::<i32>() + available_of(new);
    let mut spare = (available_total - min_available).min(budget.max(0));
    for (i, _) in olds.iter().enumerate() {
        if spare <= 0 {
            break;
        }
        let down = scaled_to[i].min(spare);
        scaled_to[i] -= down;
        spare -= down;
    }
    for (s, to) in olds.iter().zip(scaled_to) {
        if to != replicas_of(s) {
            sets::scale(c, d, s, to, surge).await?;
        }
    }
    Ok(())
}

/// Deletes old sets with no pods beyond `revisionHistoryLimit`, oldest revision first.
async fn cleanup<C: Client>(
    c: &DeploymentController<C>,
    d: &Deployment,
    olds: &[Arc<ReplicaSet>],
) -> Result<(), ApiError> {
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0);
    let mut idle: Vec<&Arc<ReplicaSet>> = olds
        .iter()
        .filter(|s| {
            replicas_of(s) == 0
                && s.status.as_ref().map_or(0, |st| st.replicas) == 0
                && s.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    if idle.len() <= keep {
        return Ok(());
    }
    idle.sort_by_key(|s| revision_of(s));
    let surplus = idle.len() - keep;
    for s in idle.into_iter().take(surplus) {
        tracing::debug!(set = %key_of(&**s).1, "deleting an old replica set beyond the history limit");
        sets::delete(c, s).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, strategy: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {}, "strategy": strategy,
                     "template": {"spec": {"containers": []}}},
        }))
        .unwrap()
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let d = deployment(10, json!({"type": "RollingUpdate"}));
        assert_eq!(fenceposts(&d), (3, 2));
        let d = deployment(
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
        );
        assert_eq!(fenceposts(&d), (0, 1));
        let d = deployment(
            4,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}),
        );
        assert_eq!(fenceposts(&d), (2, 1));
        let d = deployment(4, json!({"type": "Recreate"}));
        assert_eq!(fenceposts(&d), (0, 0));
    }
}
