//! The kubelet's side of the board hardware (`crate::hardware`): it starts the board's tasks
//! for the profile the device tree selects, tells the status LED what the node is doing
//! (joining until registered, ready while the API server answers, disconnected while it does
//! not, error when the kubelet stops on a failure) and keeps the Node's sensor annotations
//! (`bramble.io/sensor.*`) in step with the latest readings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::client::options::{PatchType, Subresource};
use crate::client::Client;
use crate::hardware::sensor_task::SensorReadings;
use crate::hardware::{self, HardwareOptions, NodeState};
use crate::resources::node;

/// How often the link to the API server is checked for the LED (the lease's renewal period).
const CHECK: Duration = Duration::from_secs(10);
/// How often sensor annotations are brought up to date (the sensors' poll period).
const ANNOTATE: Duration = hardware::sensor_task::POLL_INTERVAL;

/// The board's hardware tasks as this kubelet drives them. Dropped before `shutdown`, that is
/// when the kubelet stops on an error, it leaves the LED showing the error.
pub struct BoardLink {
    state: Arc<watch::Sender<NodeState>>,
    readings: Arc<SensorReadings>,
    shutdown: CancellationToken,
}

/// Starts the hardware tasks of this board, showing "joining".
pub fn start(options: &HardwareOptions, shutdown: &CancellationToken) -> BoardLink {
    let profile = hardware::profile::local();
    tracing::info!(board = %profile.id, name = %profile.name, "board profile");
    let (state, rx) = watch::channel(NodeState::Joining);
    let hw = hardware::spawn(profile, options, rx, shutdown.clone());
    BoardLink {
        state: Arc::new(state),
        readings: hw.readings,
        shutdown: shutdown.clone(),
    }
}

impl BoardLink {
    /// The node is registered.
    pub fn registered(&self) {
        self.state.send_replace(NodeState::Ready);
    }

    /// The latest sensor readings (for the node's metrics).
    pub fn readings(&self) -> Arc<SensorReadings> {
        self.readings.clone()
    }

    /// Follows the API server and the sensors for node `name` until shutdown.
    pub fn follow<C: Client>(
        &self,
        client: C,
        name: String,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (state, readings, shutdown) = (
            self.state.clone(),
            self.readings.clone(),
            self.shutdown.clone(),
        );
        async move {
            let mut check = tokio::time::interval(CHECK);
            let mut annotate = tokio::time::interval(ANNOTATE);
            let mut posted = BTreeMap::new();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = check.tick() => {
                        let answered = match client.get(&node::RESOURCE, "", &name).await {
                            Ok(_) => true,
                            // a lost connection or an overloaded server: 5xx
                            Err(e) => e.code < 500,
                        };
                        state.send_replace(if answered {
                            NodeState::Ready
                        } else {
                            NodeState::Disconnected
                        });
                    }
                    _ = annotate.tick() => {
                        let now = readings.annotations();
                        if now == posted {
                            continue;
                        }
                        let patch = annotations_patch(&posted, &now);
                        match client
                            .patch(&node::RESOURCE, "", &name, PatchType::Merge, &patch, Subresource::Main)
                            .await
                        {
                            Ok(_) => posted = now,
                            Err(e) => tracing::debug!(error = %e, "sensor annotations not updated"),
                        }
                    }
                }
            }
        }
    }
}

impl Drop for BoardLink {
    fn drop(&mut self) {
        if !self.shutdown.is_cancelled() {
            self.state.send_replace(NodeState::Error);
        }
    }
}

/// A merge patch from the annotations `posted` to `now`: readings that stopped are removed.
pub fn annotations_patch(
    posted: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Value {
    let mut annotations = Map::new();
    for key in posted.keys().filter(|k| !now.contains_key(*k)) {
        annotations.insert(key.clone(), Value::Null);
    }
    for (k, v) in now {
        if posted.get(k) != Some(v) {
            annotations.insert(k.clone(), json!(v));
        }
    }
    json!({ "metadata": { "annotations": annotations } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::LocalClient;
    use crate::hardware::sensor::Reading;

    #[test]
    fn stopped_readings_are_removed_and_unchanged_ones_not_sent() {
        let posted = BTreeMap::from([
            (
                "bramble.io/sensor.a.temperature".to_string(),
                "20.0".to_string(),
            ),
            (
                "bramble.io/sensor.b.temperature".to_string(),
                "21.0".to_string(),
            ),
        ]);
        let now = BTreeMap::from([
            (
                "bramble.io/sensor.a.temperature".to_string(),
                "20.0".to_string(),
            ),
            (
                "bramble.io/sensor.c.temperature".to_string(),
                "22.5".to_string(),
            ),
        ]);
        assert_eq!(
            annotations_patch(&posted, &now),
            json!({"metadata": {"annotations": {
                "bramble.io/sensor.b.temperature": null,
                "bramble.io/sensor.c.temperature": "22.5",
            }}})
        );
    }

    #[tokio::test]
    async fn the_node_carries_the_sensor_readings() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 100).unwrap();
        let name = format!("board-{}", std::process::id());
        let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
        client.create(&node::RESOURCE, "", n).await.unwrap();
        let shutdown = CancellationToken::new();
        let (state, rx) = watch::channel(NodeState::Joining);
        let link = BoardLink {
            state: Arc::new(state),
            readings: Arc::default(),
            shutdown: shutdown.clone(),
        };
        link.readings.record(
            &"bme280@/dev/i2c-1:0x76".parse().unwrap(),
            Some(Reading {
                temperature_celsius: 23.44,
                humidity_percent: Some(41.0),
                pressure_pascals: Some(100_000.0),
            }),
        );
        let task = tokio::spawn(link.follow(client.clone(), name.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = client.get(&node::RESOURCE, "", &name).await.unwrap();
            let t =
                &n["metadata"]["annotations"]["bramble.io/sensor.bme280-i2c-1-0x76.temperature"];
            if t == "23.4" && *rx.borrow() == NodeState::Ready {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not annotated: {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
        drop(link);
        assert_eq!(*rx.borrow(), NodeState::Ready, "a clean stop is no error");
    }

    #[test]
    fn a_kubelet_failing_before_shutdown_shows_the_error() {
        let shutdown = CancellationToken::new();
        let (state, rx) = watch::channel(NodeState::Joining);
        drop(BoardLink {
            state: Arc::new(state),
            readings: Arc::default(),
            shutdown,
        });
        assert_eq!(*rx.borrow(), NodeState::Error);
    }
}
