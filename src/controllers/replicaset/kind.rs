//! The two kinds one controller keeps the number of: apps/v1 ReplicaSet and its forerunner,
//! core/v1 ReplicationController, whose selector is a plain label map. Upstream runs the
//! ReplicationController manager as the ReplicaSet controller behind a conversion; here the
//! controller reads both through this trait.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::client::informer::Kind;

/// What the controller reads of a set of identical pods.
pub trait Replicated: Kind {
    /// The component named on events, as upstream.
    const COMPONENT: &'static str;
    /// The pods' selector; `None` when the spec is missing.
    fn selector(&self) -> Option<Cow<'_, LabelSelector>>;
    /// `spec.replicas` (1 when unset, as the API defaults it).
    fn replicas(&self) -> i32;
    /// The template pods are made from.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// The status as written, as JSON (both kinds' status fields share their names).
    fn status_value(&self) -> Value;
}

/// The methods whose fields both kinds name alike.
macro_rules! same_spec_fields {
    () => {
        fn replicas(&self) -> i32 {
            self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
        }

        fn template(&self) -> Option<&PodTemplateSpec> {
            self.spec.as_ref().and_then(|s| s.template.as_ref())
        }

        fn min_ready_seconds(&self) -> i32 {
            self.spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
        }

        fn status_value(&self) -> Value {
            serde_json::to_value(&self.status).unwrap_or(Value::Null)
        }
    };
}

impl Replicated for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";

    fn selector(&self) -> Option<Cow<'_, LabelSelector>> {
        self.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
    }

    same_spec_fields!();
}

impl Replicated for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";

    /// The label map as `matchLabels`; an empty or missing map selects nothing here (the
    /// API defaults it to the template's labels, so only a bad object has none).
    fn selector(&self) -> Option<Cow<'_, LabelSelector>> {
        let spec = self.spec.as_ref()?;
        let labels: BTreeMap<String, String> = spec.selector.clone().unwrap_or_default();
        Some(Cow::Owned(LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        }))
    }

    same_spec_fields!();
}
