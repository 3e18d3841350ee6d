//! `pods/log` query parameters as upstream's `PodLogOptions`, validated as
//! `ValidatePodLogOptions` does: parsed the same way by the API server and by a board's
//! kubelet port, which serves the same query.

use std::collections::HashMap;

use serde_json::json;

use super::LogRequest;
use crate::client::status::ApiError;
use crate::resources::{pod, FieldError};

/// A boolean query parameter as upstream reads one: present and not `false`/`0`/empty.
fn flag(query: &HashMap<String, String>, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
}

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
