//! Liveness, readiness and startup probes, as the kubelet's prober runs them.
//!
//! [`run_probe`] performs one check of a container's `Probe` (exec through the worker's
//! callback, `httpGet` over plain HTTP to the pod IP, `tcpSocket`), mirroring upstream
//! `prober.runProbe`. [`ProbeState`] is the per-container worker's bookkeeping
//! (`prober/worker.go`): initial delay, success/failure thresholds, and holding a failed
//! liveness or startup probe until the container is replaced.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::resources::seconds;

/// User-Agent the kubelet's HTTP probes send.
pub const USER_AGENT: &str = "kube-probe/1.32";

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Restarts the container when it fails.
    Liveness,
    /// Removes the pod from Service endpoints when it fails.
    Readiness,
    /// Holds back the other probes until it succeeds once.
    Startup,
}

/// The outcome of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The check passed.
    Success,
    /// The check failed, with the reason shown in the `Unhealthy` event.
    Failure(String),
    /// The probe could not run (bad spec, exec error); the result is thrown away.
    Unknown(String),
}

/// Runs `args` inside the container and returns its exit code.
pub type ExecFn<'a> = &'a (dyn Fn(Vec<String>) -> BoxFuture<'static, Result<i32, String>> + Sync);

/// Where a probe runs: the pod's IP, the container's spec (for named ports), and exec.
pub struct ProbeTarget<'a> {
    /// The pod IP (the default host of httpGet and tcpSocket).
    pub pod_ip: &'a str,
    /// The container's spec, for `ports[].name` lookups.
    pub container: &'a Value,
    /// Runs a command in the container.
    pub exec: ExecFn<'a>,
}

/// The timing fields of a `Probe`, with the API defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// `initialDelaySeconds` (0).
    pub initial_delay: Duration,
    /// `periodSeconds` (10).
    pub period: Duration,
    /// `timeoutSeconds` (1).
    pub timeout: Duration,
    /// `successThreshold` (1).
    pub success_threshold: u32,
    /// `failureThreshold` (3).
    pub failure_threshold: u32,
}

impl ProbeSettings {
    /// Reads the fields of a `Probe` object.
    pub fn from_probe(probe: &Value) -> Self {
        let secs = |k: &str, d: u64| seconds::wait_unsigned(probe[k].as_u64().unwrap_or(d));
        let count = |k: &str, d: u32| {
            probe[k]
                .as_u64()
                .map_or(d, |v| u32::try_from(v.max(1)).unwrap_or(u32::MAX))
        };
        ProbeSettings {
            initial_delay: secs("initialDelaySeconds", 0),
            period: secs("periodSeconds", 10),
            timeout: secs("timeoutSeconds", 1),
            success_threshold: count("successThreshold", 1),
            failure_threshold: count("failureThreshold", 3),
        }
    }
}

/// What a probe currently reports for its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Live / ready / started.
    Success,
    /// Not live / not ready / not started.
    Failure,
}

/// A change of the reported result; for liveness or startup, `Failure` means restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The probe.
    pub kind: ProbeKind,
    /// The new result.
    pub health: Health,
}

/// One probe's thresholds over consecutive results (upstream prober `worker`).
#[derive(Debug, Clone)]
pub struct ProbeState {
    kind: ProbeKind,
    settings: ProbeSettings,
    reported: Option<Health>,
    last: Option<Health>,
    run: u32,
    on_hold: bool,
}

impl ProbeState {
    /// A fresh state for a new container: readiness starts failed, liveness passed and
    /// startup unknown, as upstream's initial values.
    pub fn new(kind: ProbeKind, settings: ProbeSettings) -> Self {
        let reported = match kind {
            ProbeKind::Readiness => Some(Health::Failure),
            ProbeKind::Liveness => Some(Health::Success),
            ProbeKind::Startup => None,
        };
        ProbeState {
            kind,
            settings,
            reported,
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    /// The result the container currently has (`None`: startup not decided yet).
    pub fn reported(&self) -> Option<Health> {
        self.reported
    }

    /// Whether to probe now: not during `initialDelaySeconds` after start, nor while a
    /// failed liveness/startup probe waits for the container to be replaced.
    pub fn should_probe(&self, started_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let ran = (now - started_at).to_std().unwrap_or(Duration::ZERO);
        !self.on_hold && ran >= self.settings.initial_delay
    }

    /// Counts one result; reports a transition once a threshold of equal results is met.
    pub fn observe(&mut self, result: &ProbeResult) -> Option<Transition> {
        let health = match result {
            _ if self.on_hold => return None,
            ProbeResult::Unknown(_) => return None,
            ProbeResult::Success => Health::Success,
            ProbeResult::Failure(_) => Health::Failure,
        };
        if self.last == Some(health) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(health);
            self.run = 1;
        }
        let threshold = match health {
            Health::Success => self.settings.success_threshold,
            Health::Failure => self.settings.failure_threshold,
        };
        if self.run < threshold {
            return None;
        }
        if health == Health::Failure && self.kind != ProbeKind::Readiness {
            // The container will be restarted: stop probing it until it is replaced.
            self.on_hold = true;
            self.run = 0;
        }
        let changed = self.reported != Some(health);
        self.reported = Some(health);
        changed.then_some(Transition {
            kind: self.kind,
            health,
        })
    }
}

/// Resolves `port` (number or a named container port).
fn resolve_port(port: &Value, container: &Value) -> Result<u16, String> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).map_err(|_| format!("invalid port number: {n}"));
    }
    let name = port.as_str().unwrap_or_default();
    if let Ok(n) = name.parse::<u16>() {
        return Ok(n);
    }
    container["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("couldn't find port: {name} in container"))
}

/// Runs one check of `probe` (upstream `prober.runProbe`).
pub async fn run_probe(probe: &Value, target: &ProbeTarget<'_>) -> ProbeResult {
    let timeout = ProbeSettings::from_probe(probe).timeout;
    if let Some(exec) = probe.get("exec") {
        let args: Vec<String> = exec["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let shown = format!("{args:?}");
        return match tokio::time::timeout(timeout, (target.exec)(args)).await {
            Ok(Ok(0)) => ProbeResult::Success,
            Ok(Ok(code)) => ProbeResult::Failure(format!("command {shown} exited with {code}")),
            Ok(Err(e)) => ProbeResult::Unknown(e),
            Err(_) => ProbeResult::Failure(format!("command {shown} timed out")),
        };
    }
    if let Some(http) = probe.get("httpGet") {
        return http_probe(http, target, timeout).await;
    }
    if let Some(tcp) = probe.get("tcpSocket") {
        let port = match resolve_port(&tcp["port"], target.container) {
            Ok(p) => p,
            Err(e) => return ProbeResult::Unknown(e),
        };
        let host = tcp["host"].as_str().unwrap_or(target.pod_ip);
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => ProbeResult::Success,
            Ok(Err(e)) => ProbeResult::Failure(format!("dial tcp {addr}: {e}")),
            Err(_) => ProbeResult::Failure(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    ProbeResult::Unknown("missing probe handler".to_string())
}

async fn http_probe(http: &Value, target: &ProbeTarget<'_>, timeout: Duration) -> ProbeResult {
    let scheme = http["scheme"].as_str().unwrap_or("HTTP");
    if !scheme.eq_ignore_ascii_case("http") {
        return ProbeResult::Unknown(format!("unsupported probe scheme {scheme}"));
    }
    let port = match resolve_port(&http["port"], target.container) {
        Ok(p) => p,
        Err(e) => return ProbeResult::Unknown(e),
    };
    let host = http["host"].as_str().unwrap_or(target.pod_ip);
    let path = http["path"].as_str().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let url = format!("http://{host}:{port}{path}");
    let mut req = hyper::Request::get(path.as_str())
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::ACCEPT, "*/*");
    for h in http["httpHeaders"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (h["name"].as_str(), h["value"].as_str()) else {
            continue;
        };
        // A user header replaces the default of the same name.
        if let Some(headers) = req.headers_mut() {
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
    }
    let req = match req.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return ProbeResult::Unknown(format!("invalid probe request {url}: {e}")),
    };
    let get = async {
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, get).await {
        Ok(Ok(resp)) => {
            let code = resp.status().as_u16();
            if (200..400).contains(&code) {
                ProbeResult::Success
            } else {
                ProbeResult::Failure(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
        Ok(Err(e)) => ProbeResult::Failure(format!("Get \"{url}\": {e}")),
        Err(_) => ProbeResult::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
