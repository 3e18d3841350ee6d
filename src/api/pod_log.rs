//! `GET pods/{name}/log`: parses and validates upstream's `PodLogOptions` query parameters and
//! streams the container's log as `text/plain`, as upstream's `LogREST`
//! (`pkg/registry/core/pod/rest/log.go`) does through the kubelet.

use std::collections::HashMap;

use http::{Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::body::{self, ResponseBody};
use super::handlers::flag;
use super::pod_streams::{self, Kubelets, LogRequest};
use super::status::ApiError;
use crate::resources::{pod, FieldError};

/// Chunks buffered between the log reader and the connection.
const LOG_CHUNKS: usize = 16;

fn integer(query: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))
        }),
    }
}

/// The container (possibly empty: not named) and the log options of a query, validated as
/// upstream's `ValidatePodLogOptions`; `pod_name` names the pod in errors.
pub fn parse(
    query: &HashMap<String, String>,
    pod_name: &str,
) -> Result<(String, LogRequest), ApiError> {
    let since_time = match query.get("sinceTime").filter(|v| !v.is_empty()) {
        None => None,
        Some(t) => {
            chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for sinceTime: {t:?} is not an RFC 3339 time"
                ))
            })?;
            Some(t.clone())
        }
    };
    let request = LogRequest {
        follow: flag(query, "follow"),
        previous: flag(query, "previous"),
        tail_lines: integer(query, "tailLines")?,
        since_seconds: integer(query, "sinceSeconds")?,
        since_time,
        timestamps: flag(query, "timestamps"),
        limit_bytes: integer(query, "limitBytes")?,
    };
    let mut errors = Vec::new();
    if let Some(n) = request.tail_lines.filter(|n| *n < 0) {
        errors.push(FieldError::invalid(
            "tailLines",
            &json!(n),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = request.limit_bytes.filter(|n| *n < 1) {
        errors.push(FieldError::invalid(
            "limitBytes",
            &json!(n),
            "must be greater than 0",
        ));
    }
    if request.since_seconds.is_some() && request.since_time.is_some() {
        errors.push(FieldError::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if let Some(n) = request.since_seconds.filter(|n| *n < 1) {
        errors.push(FieldError::invalid(
            "sinceSeconds",
            &json!(n),
            "must be greater than 0",
        ));
    }
    if !errors.is_empty() {
        // Upstream reports these against the kind `PodLogOptions`, not `Pod`.
        let mut e = ApiError::invalid(&pod::RESOURCE, pod_name, &errors);
        e.message = e.message.replacen("Pod ", "PodLogOptions ", 1);
        e.details.kind = Some("PodLogOptions".into());
        return Err(e);
    }
    let container = query.get("container").cloned().unwrap_or_default();
    Ok((container, request))
}

/// Serves the log of one container of `pod` (the stored object).
pub async fn serve(
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    pod: &Value,
    query: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, ApiError> {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (requested, request) = parse(query, name)?;
    let container = pod_streams::resolve_container(pod, &requested)?;
    let node = pod_streams::node_name(pod);
    if node.is_empty() {
        // Upstream's `LogLocation` has nowhere to stream from: an empty log.
        return Ok(body::full(StatusCode::OK, "text/plain", ""));
    }
    let streams = kubelets.for_node(node)?;
    let mut rx = streams.logs(namespace, name, &container, request).await?;
    let (tx, out) = body::ChannelBody::channel(LOG_CHUNKS);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let chunk = tokio::select! {
                c = rx.recv() => match c { Some(c) => c, None => break },
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
            };
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(body::streaming(StatusCode::OK, "text/plain", out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kubectl_logs_parameters() {
        let (c, r) = parse(
            &query(&[
                ("container", "web"),
                ("follow", "true"),
                ("tailLines", "10"),
                ("timestamps", "true"),
                ("limitBytes", "500"),
                ("sinceSeconds", "60"),
            ]),
            "p",
        )
        .unwrap();
        assert_eq!(c, "web");
        assert_eq!(
            r,
            LogRequest {
                follow: true,
                previous: false,
                tail_lines: Some(10),
                since_seconds: Some(60),
                since_time: None,
                timestamps: true,
                limit_bytes: Some(500),
            }
        );
        let (c, r) = parse(&query(&[]), "p").unwrap();
        assert_eq!((c.as_str(), r), ("", LogRequest::default()));
    }

    #[test]
    fn invalid_options_are_rejected_like_upstream() {
        let e = parse(&query(&[("tailLines", "-1")]), "p").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        let e = parse(
            &query(&[("sinceSeconds", "5"), ("sinceTime", "2024-01-01T00:00:00Z")]),
            "p",
        )
        .unwrap_err();
        assert!(e
            .message
            .contains("at most one of `sinceTime` or `sinceSeconds` may be specified"));
        assert_eq!(
            parse(&query(&[("limitBytes", "0")]), "p").unwrap_err().code,
            422
        );
        assert_eq!(
            parse(&query(&[("tailLines", "x")]), "p").unwrap_err().code,
            400
        );
        assert_eq!(
            parse(&query(&[("sinceTime", "yesterday")]), "p")
                .unwrap_err()
                .code,
            400
        );
    }
}
