//! The Rust ecosystem's client, kube-rs, against the server as its users write code:
//! server-side apply with field managers, conflicts and `force`, and an operator for a
//! custom resource (the CRD derived from a Rust type, a `Controller` that owns ConfigMaps
//! and writes the resource's status).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::Cluster;

async fn client(c: &Cluster) -> Client {
    let kc = Kubeconfig::read_from(c.kubeconfig()).expect("the admin kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("a kube-rs config");
    Client::try_from(config).expect("a kube-rs client")
}

/// Polls `f` every 100 ms until it gives a value, for at most a minute.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_with_kube_rs_tracks_owners_and_conflicts() {
    let c = Cluster::start();
    let cms: Api<ConfigMap> = Api::namespaced(client(&c).await, "default");
    let applied = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": data});
    let a = PatchParams::apply("tool-a");
    cms.patch(
        "settings",
        &a,
        &Patch::Apply(&applied(json!({"mode": "fast", "level": "1"}))),
    )
    .await
    .expect("tool-a applies");

    // Another manager setting the same field differently conflicts, as upstream says.
    let b = PatchParams::apply("tool-b");
    let err = cms
        .patch(
            "settings",
            &b,
            &Patch::Apply(&applied(json!({"mode": "slow"}))),
        )
        .await
        .expect_err("a conflict");
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}");
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("conflict with \"tool-a\"")
            && status.message.contains(".data.mode"),
        "{}",
        status.message
    );

    // Forced, the field changes hands; tool-a then dropping `level` removes it.
    let forced = cms
        .patch(
            "settings",
            &b.clone().force(),
            &Patch::Apply(&applied(json!({"mode": "slow"}))),
        )
        .await
        .expect("a forced apply");
    assert_eq!(
        forced
            .data
            .as_ref()
            .and_then(|d| d.get("mode"))
            .map(String::as_str),
        Some("slow")
    );
    let managers: Vec<String> = forced
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"tool-a".into()) && managers.contains(&"tool-b".into()),
        "{managers:?}"
    );
    let after = cms
        .patch("settings", &a, &Patch::Apply(&applied(json!({}))))
        .await
        .expect("tool-a applies less");
    let data = after.data.unwrap_or_default();
    assert_eq!(
        data.get("mode").map(String::as_str),
        Some("slow"),
        "tool-b's field stays"
    );
    assert!(
        !data.contains_key("level"),
        "the field tool-a dropped goes: {data:?}"
    );
}

/// A greeting a small operator turns into a ConfigMap.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.bramble.dev",
    version = "v1",
    kind = "Greeting",
    namespaced,
    status = "GreetingStatus",
    shortname = "gr",
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".spec.message"}"#
)]
pub struct GreetingSpec {
    /// What to say.
    message: String,
}

/// What the operator did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct GreetingStatus {
    /// The message last written to the ConfigMap.
    written: String,
}

struct Context {
    client: Client,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(g: Arc<Greeting>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ns = g.namespace().unwrap_or_default();
    let owner = g
        .controller_owner_ref(&())
        .expect("a stored greeting has a uid");
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("greeting-{}", g.name_any()), "ownerReferences": [owner]},
        "data": {"message": g.spec.message},
    });
    let pp = PatchParams::apply("greeting-operator").force();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    cms.patch(
        &format!("greeting-{}", g.name_any()),
        &pp,
        &Patch::Apply(&cm),
    )
    .await?;
    let greetings: Api<Greeting> = Api::namespaced(ctx.client.clone(), &ns);
    let status = json!({"apiVersion": "demo.bramble.dev/v1", "kind": "Greeting",
        "status": {"written": g.spec.message}});
    greetings
        .patch_status(&g.name_any(), &pp, &Patch::Apply(&status))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Greeting>, _: &ReconcileError, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kube_rs_operator_runs_a_custom_resource() {
    let c = Cluster::start();
    let client = client(&c).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Greeting::crd();
    let name = crd.name_any();
    crds.patch(
        &name,
        &PatchParams::apply("greeting-installer"),
        &Patch::Apply(&crd),
    )
    .await
    .expect("the CRD applies");
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(crds.clone(), &name, conditions::is_crd_established()),
    )
    .await
    .expect("the CRD is established in time")
    .expect("the CRD watch");

    let greetings: Api<Greeting> = Api::namespaced(client.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Context {
        client: client.clone(),
    });
    let operator = tokio::spawn(
        Controller::new(greetings.clone(), Default::default())
            .owns(cms.clone(), Default::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|_| async {}),
    );

    let hello = Greeting::new(
        "hello",
        GreetingSpec {
            message: "hi there".into(),
        },
    );
    greetings
        .create(&PostParams::default(), &hello)
        .await
        .expect("a greeting");
    let written = until("the operator's ConfigMap", || async {
        let cm = cms.get_opt("greeting-hello").await.ok().flatten()?;
        cm.data?.get("message").cloned()
    })
    .await;
    assert_eq!(written, "hi there");
    until("the greeting's status", || async {
        let g = greetings.get("hello").await.ok()?;
        (g.status?.written == "hi there").then_some(())
    })
    .await;

    // A change to the resource reaches the ConfigMap through the watch.
    greetings
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"message": "bye"}})),
        )
        .await
        .expect("a changed greeting");
    until("the ConfigMap following the greeting", || async {
        let cm = cms.get("greeting-hello").await.ok()?;
        (cm.data?.get("message")? == "bye").then_some(())
    })
    .await;
    // The ConfigMap carries its owner, so deleting the greeting lets it go.
    let cm = cms.get("greeting-hello").await.expect("the ConfigMap");
    let owners = cm.owner_references();
    assert_eq!(
        (owners[0].kind.as_str(), owners[0].name.as_str()),
        ("Greeting", "hello")
    );
    greetings
        .delete("hello", &DeleteParams::default())
        .await
        .expect("the greeting deletes");
    until("the owned ConfigMap to go", || async {
        cms.get_opt("greeting-hello")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    operator.abort();
}
