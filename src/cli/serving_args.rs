//! `bramble server`'s serving limits, named as kube-apiserver's flags where it has one
//! (`--request-timeout`, `--max-requests-inflight`, `--max-mutating-requests-inflight`,
//! `--http2-max-streams-per-connection`) and after Go's `http.Server` fields where it relies on
//! them (`--tls-handshake-timeout`, `--header-read-timeout`, `--idle-connection-timeout`).
//! The connection caps have no upstream counterpart: Go accepts without bound. Defaults and
//! their reasons are in `api::listener` and `api::request_limits`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::api::listener::{self, ListenerLimits};
use crate::api::request_limits::{self, RequestLimitSettings};

/// Connection and request limits of the API server.
#[derive(Debug, Args)]
pub struct ServingArgs {
    /// Connections the API server holds at once.
    #[arg(long, default_value_t = listener::API_MAX_CONNECTIONS, env = "BRAMBLE_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Connections one client address may hold.
    #[arg(long, default_value_t = listener::API_MAX_PER_ADDRESS, env = "BRAMBLE_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: usize,
    /// Connections not yet authenticated (no client certificate and no authenticated request)
    /// held at once; when full, the oldest of the busiest address is closed for a newcomer.
    #[arg(long, default_value_t = listener::API_MAX_UNAUTHENTICATED, env = "BRAMBLE_MAX_UNAUTHENTICATED_CONNECTIONS")]
    pub max_unauthenticated_connections: usize,
    /// Time a client has to complete its TLS handshake.
    #[arg(long, default_value = "10s", value_parser = positive, env = "BRAMBLE_TLS_HANDSHAKE_TIMEOUT")]
    pub tls_handshake_timeout: Duration,
    /// Time a client has to send an HTTP/1.1 request head (counted from when the server waits
    /// for it, so it also bounds HTTP/1.1 keep-alive), and to start its first request.
    #[arg(long, default_value = "32s", value_parser = positive, env = "BRAMBLE_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Duration,
    /// Time a connection without a request in flight stays open (HTTP/1.1 and HTTP/2).
    #[arg(long, default_value = "90s", value_parser = positive, env = "BRAMBLE_IDLE_CONNECTION_TIMEOUT")]
    pub idle_connection_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once.
    #[arg(long, default_value_t = listener::HTTP2_MAX_STREAMS, env = "BRAMBLE_HTTP2_MAX_STREAMS_PER_CONNECTION")]
    pub http2_max_streams_per_connection: u32,
    /// Longest a request may take, except watches, logs, exec, attach and port-forward; later
    /// it is answered 504.
    #[arg(long, default_value = "60s", value_parser = positive, env = "BRAMBLE_REQUEST_TIMEOUT")]
    pub request_timeout: Duration,
    /// Reads in flight at once (0: no limit); more are answered 429. system:masters is exempt,
    /// as are watches, logs, exec, attach and port-forward.
    #[arg(long, default_value_t = request_limits::MAX_REQUESTS_INFLIGHT, env = "BRAMBLE_MAX_REQUESTS_INFLIGHT")]
    pub max_requests_inflight: usize,
    /// Writes in flight at once (0: no limit); more are answered 429. system:masters is exempt.
    #[arg(long, default_value_t = request_limits::MAX_MUTATING_REQUESTS_INFLIGHT, env = "BRAMBLE_MAX_MUTATING_REQUESTS_INFLIGHT")]
    pub max_mutating_requests_inflight: usize,
}

impl ServingArgs {
    /// The connection limits.
    pub fn connection_limits(&self) -> ListenerLimits {
        ListenerLimits {
            max_connections: self.max_connections,
            max_per_address: self.max_connections_per_address,
            max_unauthenticated: self.max_unauthenticated_connections,
            tls_handshake_timeout: self.tls_handshake_timeout,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_connection_timeout,
            http2_max_streams: self.http2_max_streams_per_connection,
        }
        .normalized()
    }

    /// The request limits.
    pub fn request_limits(&self) -> RequestLimitSettings {
        RequestLimitSettings {
            request_timeout: self.request_timeout,
            max_requests_inflight: self.max_requests_inflight,
            max_mutating_requests_inflight: self.max_mutating_requests_inflight,
        }
    }
}

/// Where the store lives: an etcd cluster shared with other servers (k3s' flag names), or
/// without `--datastore-endpoint` the local sled database.
#[derive(Debug, Args)]
pub struct DatastoreArgs {
    /// etcd client URLs, `http://HOST:PORT` or `https://HOST:PORT`, comma-separated; the
    /// servers on one etcd cluster serve one Kubernetes cluster.
    #[arg(long, value_delimiter = ',', env = "BRAMBLE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Vec<String>,
    /// The CA certificate (PEM) that signed the etcd members' certificates.
    #[arg(long, env = "BRAMBLE_DATASTORE_CAFILE")]
    pub datastore_cafile: Option<PathBuf>,
    /// The client certificate (PEM) presented to etcd.
    #[arg(
        long,
        requires = "datastore_keyfile",
        env = "BRAMBLE_DATASTORE_CERTFILE"
    )]
    pub datastore_certfile: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        requires = "datastore_certfile",
        env = "BRAMBLE_DATASTORE_KEYFILE"
    )]
    pub datastore_keyfile: Option<PathBuf>,
}

impl DatastoreArgs {
    /// The etcd settings, or `None` for the local store.
    pub fn etcd(&self) -> Option<crate::store::EtcdConfig> {
        if self.datastore_endpoint.is_empty() {
            return None;
        }
        let mut config = crate::store::EtcdConfig::new(self.datastore_endpoint.clone());
        config.tls = self
            .datastore_cafile
            .clone()
            .map(|ca_file| crate::store::EtcdTls {
                ca_file,
                client: self
                    .datastore_certfile
                    .clone()
                    .zip(self.datastore_keyfile.clone()),
            });
        Some(config)
    }
}

/// A duration above zero: a zero timeout would close every connection or fail every request.
fn positive(text: &str) -> Result<Duration, String> {
    let d = super::duration::parse(text)?;
    if d.is_zero() {
        return Err(format!("{text:?} is zero: give a timeout such as 10s"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timeouts_are_refused() {
        assert!(positive("0s").is_err());
        assert_eq!(positive("1500ms"), Ok(Duration::from_millis(1500)));
    }
}
