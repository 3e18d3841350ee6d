//! Pod start-up through the whole stack, one pod at a time on a fresh board: from sending the
//! API create to a watch event saying the pod is `Running` with its container running. That
//! span holds the durable API write, scheduling and binding, the kubelet's watch, the sandbox
//! (network namespace, veth, address, IPC/UTS namespaces), volumes and `/etc/hosts`, the
//! overlay root filesystem, the bundle, the runtime and its supervisor, and the status write
//! the watch reports. The image is pulled once beforehand, so no pull is timed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::board::{Board, Images};
use crate::pod_watch::{PodEvent, PodWatch};
use crate::pods;

/// How long one pod may take to start or to go away.
const POD_LIMIT: Duration = Duration::from_secs(60);

/// How many pods to time, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Pods created through a direct API POST.
    pub api_pods: usize,
    /// Pods created with `kubectl apply`.
    pub kubectl_pods: usize,
    /// No new pod is started after this.
    pub time_limit: Duration,
}

/// What one runtime's run measured (every list sorted).
#[derive(Debug, Default)]
pub struct Startup {
    /// `builtin` or `runc`.
    pub runtime: String,
    /// The first pod, which pulled the image: create to Running.
    pub first_pull: Option<Duration>,
    /// Create sent to `201 Created`.
    pub create: Vec<Duration>,
    /// Create sent to the watch seeing `spec.nodeName`.
    pub bound: Vec<Duration>,
    /// Create sent to the watch seeing the pod Running.
    pub running: Vec<Duration>,
    /// Wall time of the `kubectl apply` process.
    pub kubectl_wall: Vec<Duration>,
    /// `kubectl apply` started to the watch seeing the pod Running.
    pub kubectl_running: Vec<Duration>,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// What the board left behind after shutting down.
    pub leftovers: Vec<String>,
}

/// Starts a board on `runtime` in `dir`, warms the image, then times pods one by one.
pub async fn measure(dir: &Path, runtime: &str, images: &Images, plan: Plan) -> Startup {
    let mut result = Startup {
        runtime: runtime.to_string(),
        ..Startup::default()
    };
    let mut board = match Board::start(dir, runtime, images).await {
        Ok(b) => b,
        Err(e) => {
            result.error = Some(format!("starting the server: {e:#}"));
            return result;
        }
    };
    if let Err(e) = run(&mut board, dir, plan, &mut result).await {
        result.error = Some(e);
    }
    result.leftovers = board.shut_down().await;
    for list in [
        &mut result.create,
        &mut result.bound,
        &mut result.running,
        &mut result.kubectl_wall,
        &mut result.kubectl_running,
    ] {
        list.sort_unstable();
    }
    result
}

async fn run(
    board: &mut Board,
    dir: &Path,
    plan: Plan,
    result: &mut Startup,
) -> Result<(), String> {
    let mut watch = PodWatch::open(&board.client, pods::NAMESPACE)
        .await
        .map_err(|e| format!("{e:#}"))?;

    let sent = Instant::now();
    board.create("warm-up").await?;
    let running = wait_running(&mut watch, "warm-up", &mut None).await?;
    result.first_pull = Some(running.at - sent);
    remove(board, &mut watch, "warm-up").await?;

    let start = Instant::now();
    for i in 0..plan.api_pods {
        if start.elapsed() > plan.time_limit {
            break;
        }
        let name = format!("api-{i}");
        let sent = Instant::now();
        board.create(&name).await?;
        result.create.push(sent.elapsed());
        let mut bound = None;
        let running = wait_running(&mut watch, &name, &mut bound).await?;
        if let Some(bound) = bound {
            result.bound.push(bound - sent);
        }
        result.running.push(running.at - sent);
        remove(board, &mut watch, &name).await?;
    }

    let home = dir.join("kubectl-home");
    for i in 0..plan.kubectl_pods {
        if start.elapsed() > plan.time_limit {
            break;
        }
        let name = format!("kubectl-{i}");
        let sent = Instant::now();
        kubectl_apply(board, &home, &name).await?;
        result.kubectl_wall.push(sent.elapsed());
        let running = wait_running(&mut watch, &name, &mut None).await?;
        result.kubectl_running.push(running.at - sent);
        remove(board, &mut watch, &name).await?;
    }
    Ok(())
}

/// Waits for `name` to be Running, noting when it was first seen bound.
async fn wait_running(
    watch: &mut PodWatch,
    name: &str,
    bound: &mut Option<Instant>,
) -> Result<PodEvent, String> {
    watch
        .until(POD_LIMIT, |e| {
            if e.name != name {
                return false;
            }
            if e.bound && bound.is_none() {
                *bound = Some(e.at);
            }
            e.running
        })
        .await
        .ok_or_else(|| format!("pod {name} not Running within {POD_LIMIT:?}"))
}

/// Deletes `name` and waits until the kubelet has stopped it and removed the object, so the
/// next pod starts on an idle node.
async fn remove(board: &Board, watch: &mut PodWatch, name: &str) -> Result<(), String> {
    pods::delete(&board.client, name).await?;
    watch
        .until(POD_LIMIT, |e| e.name == name && e.kind == "DELETED")
        .await
        .map(|_| ())
        .ok_or_else(|| format!("pod {name} not gone within {POD_LIMIT:?}"))
}

/// `kubectl apply -f -` of the pod, with a persistent home so discovery is cached after the
/// first run, as on a user's machine.
async fn kubectl_apply(board: &Board, home: &Path, name: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(board.kubeconfig())
        .args(["apply", "-f", "-"])
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running kubectl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(pods::manifest_yaml(name).as_bytes())
            .await
            .map_err(|e| format!("writing to kubectl: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("running kubectl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
