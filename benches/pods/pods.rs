//! The benchmark's pods: one busybox container from the local registry (already pulled, so
//! `imagePullPolicy: IfNotPresent` keeps the registry out of the timing), created and deleted
//! through the HTTPS API the way a controller or `kubectl apply` does.

use bramble::client::http::HttpClient;
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Namespace every benchmark pod lives in (exists in every cluster).
pub const NAMESPACE: &str = "default";
/// Repository the test image is pushed to; `bench` in a pod means
/// `docker.io/library/bench:latest`, which the `docker.io` mirror serves.
pub const IMAGE_REPO: &str = "library/bench";
/// The container's command, baked into the image: sleep until SIGTERM. PID 1 in a pid
/// namespace ignores signals it installs no handler for, hence the trap.
pub const COMMAND: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

/// The namespace's pod collection.
pub fn collection_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/pods")
}

/// A one-container pod running the bench image's own command.
pub fn manifest(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bramble-bench"}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": "bench",
                "imagePullPolicy": "IfNotPresent",
            }],
        },
    })
}

/// The same pod as YAML, for `kubectl apply -f -`.
pub fn manifest_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: bramble-bench}}\n\
         spec:\n  containers:\n  - name: main\n    image: bench\n    imagePullPolicy: IfNotPresent\n"
    )
}

/// Creates the pod (one HTTPS POST answered `201 Created`) and returns its uid.
pub async fn create(client: &HttpClient, name: &str) -> Result<String, String> {
    let body = serde_json::to_vec(&manifest(name)).map_err(|e| e.to_string())?;
    let headers = [("content-type", "application/json")];
    let reply = client
        .request(Method::POST, &collection_path(), &headers, body)
        .await
        .map_err(|e| e.to_string())?;
    if reply.status != StatusCode::CREATED {
        return Err(format!(
            "creating pod {name} answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
        ));
    }
    Ok(reply.json()["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Asks for the pod's deletion with a one-second grace period; the kubelet stops it and
/// removes the object. Start-up runs delete a pod as soon as it is Running, which can be
/// before its shell has installed its TERM trap: a container's PID 1 ignores a signal it has
/// no handler for, so the default 30 s grace would be waited out before SIGKILL.
pub async fn delete(client: &HttpClient, name: &str) -> Result<(), String> {
    let path = format!("{}/{name}", collection_path());
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 1});
    let body = serde_json::to_vec(&options).map_err(|e| e.to_string())?;
    let reply = client
        .request(
            Method::DELETE,
            &path,
            &[("content-type", "application/json")],
            body,
        )
        .await
        .map_err(|e| e.to_string())?;
    if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(format!("deleting pod {name} answered {}", reply.status))
    }
}
