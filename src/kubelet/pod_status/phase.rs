//! The pod phase from its containers' states, as the kubelet's `getPhase`.

use serde_json::Value;

use super::*;

/// The pod phase (upstream `getPhase`).
pub(super) fn phase(
    spec: &Value,
    init: &[ApiStatus],
    regular: &[ApiStatus],
    terminal: bool,
) -> &'static str {
    let (mut pending_init, mut failed_init) = (0, 0);
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in list(&spec["initContainers"]) {
        let Some(s) = find(init, c["name"].as_str().unwrap_or_default()) else {
            pending_init += 1;
            continue;
        };
        if is_sidecar(c) {
            // Sidecars count like regular containers, except that their exit is ignored.
            match &s.state {
                State::Running { .. } => {
                    running += 1;
                    if !s.started {
                        pending_init += 1;
                    }
                }
                State::Waiting { .. } if s.last.is_none() => {
                    pending_init += 1;
                    waiting += 1;
                }
                _ => {}
            }
            continue;
        }
        match (&s.state, &s.last) {
            (State::Running { .. }, _) => pending_init += 1,
            (State::Terminated(t), _) | (State::Waiting { .. }, Some(t)) => {
                if t.exit_code != 0 {
                    failed_init += 1;
                }
            }
            (State::Waiting { .. }, None) => pending_init += 1,
        }
    }
    for s in regular {
        match (&s.state, &s.last) {
            (State::Running { .. }, _) => running += 1,
            (State::Terminated(t), _) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            (State::Waiting { .. }, Some(_)) => stopped += 1,
            (State::Waiting { .. }, None) => waiting += 1,
        }
    }
    let policy = spec["restartPolicy"].as_str().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_regular_started(regular)) || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    if terminal {
        return if stopped == succeeded {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    match policy {
        "Never" | "OnFailure" if stopped == succeeded => "Succeeded",
        "Never" => "Failed",
        // Always restarts everything; OnFailure restarts the failed ones.
        _ => "Running",
    }
}
