//! Bootstrap tokens: join tokens kept as Secrets, shaped like kubeadm's.
//!
//! Each token is a Secret `kube-system/bootstrap-token-<id>` of type
//! `bootstrap.kubernetes.io/token` whose data holds `token-id`, `token-secret`, an optional
//! RFC 3339 `expiration`, `usage-bootstrap-authentication: "true"`, an optional
//! `description` and `auth-extra-groups` (comma-separated, each `system:bootstrappers:...`).
//! The API server authenticates `<id>.<secret>` bearers against these Secrets
//! (`api/auth/bootstrap_token.rs`), so deleting the Secret revokes the token at once and an
//! expired one is refused even before the cleaner deletes it.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Namespace bootstrap token Secrets live in.
pub const NAMESPACE: &str = "kube-system";
/// Secret name prefix; the token id follows.
pub const NAME_PREFIX: &str = "bootstrap-token-";
/// The Secret type.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Data key: the token id.
pub const ID_KEY: &str = "token-id";
/// Data key: the token secret.
pub const SECRET_KEY: &str = "token-secret";
/// Data key: when the token stops working (RFC 3339).
pub const EXPIRATION_KEY: &str = "expiration";
/// Data key: a free-text description.
pub const DESCRIPTION_KEY: &str = "description";
/// Data key: extra groups the token's user is in.
pub const EXTRA_GROUPS_KEY: &str = "auth-extra-groups";
/// Data key prefix of usages (`usage-bootstrap-<usage>: "true"`).
pub const USAGE_PREFIX: &str = "usage-bootstrap-";
/// The usage that lets the token authenticate to the API server.
pub const AUTHENTICATION_USAGE: &str = "authentication";
/// The usage upstream gives tokens that sign the `cluster-info` ConfigMap.
pub const SIGNING_USAGE: &str = "signing";
/// Every extra group must start with this (upstream's `BootstrapGroupPattern`).
pub const EXTRA_GROUP_PREFIX: &str = "system:bootstrappers:";
/// The extra group kubeadm gives the tokens it creates for joining nodes.
pub const DEFAULT_NODE_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// A bootstrap token as its Secret describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// The public part, `[a-z0-9]{6}`.
    pub id: String,
    /// The private part, `[a-z0-9]{16}`.
    pub secret: String,
    /// When it stops working; `None` for never.
    pub expiration: Option<DateTime<Utc>>,
    /// Usages set to `"true"`, in key order (`authentication`, `signing`).
    pub usages: Vec<String>,
    /// Extra groups beyond `system:bootstrappers`.
    pub extra_groups: Vec<String>,
    /// Free text.
    pub description: String,
}

impl std::fmt::Debug for BootstrapToken {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("expiration", &self.expiration)
            .field("usages", &self.usages)
            .field("extra_groups", &self.extra_groups)
            .finish_non_exhaustive()
    }
}

/// Why a Secret is not a usable bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapTokenError {
    /// Not of the bootstrap token type.
    #[error("secret is not of type {SECRET_TYPE}")]
    NotAToken,
    /// A required data key is missing or not base64 text.
    #[error("bootstrap token secret lacks a valid {0:?}")]
    Missing(&'static str),
    /// The id or secret has the wrong shape.
    #[error("bootstrap token id must be 6 and its secret 16 characters of [a-z0-9]")]
    Shape,
    /// The secret's name does not carry its id.
    #[error("bootstrap token secret must be named {NAME_PREFIX}<token-id>")]
    Name,
    /// The expiration is not an RFC 3339 time.
    #[error("bootstrap token expiration {0:?} is not an RFC 3339 time")]
    Expiration(String),
    /// An extra group is outside `system:bootstrappers:`.
    #[error(
        "bootstrap token extra group {0:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]"
    )]
    Group(String),
}

/// Whether `s` is `len` characters of `[a-z0-9]`.
pub fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Splits a bearer `<id>.<secret>` of the bootstrap token shape.
pub fn split_bearer(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    (is_token_part(id, 6) && is_token_part(secret, 16)).then_some((id, secret))
}

/// The Secret name of token `id`.
pub fn secret_name(id: &str) -> String {
    format!("{NAME_PREFIX}{id}")
}

/// Upstream's group pattern: `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
fn valid_extra_group(group: &str) -> bool {
    let Some(rest) = group.strip_prefix(EXTRA_GROUP_PREFIX) else {
        return false;
    };
    let Some(last) = rest.bytes().last() else {
        return false;
    };
    rest.len() <= 256
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
}

/// The decoded text of `data[key]`, if present and valid.
fn data_text(data: &Map<String, Value>, key: &str) -> Option<String> {
    let encoded = data.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

impl BootstrapToken {
    /// Reads a token from its Secret (as stored: `data` base64-encoded), checking its type,
    /// name and shape as upstream's authenticator does.
    pub fn from_secret(secret: &Value) -> Result<BootstrapToken, BootstrapTokenError> {
        if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
            return Err(BootstrapTokenError::NotAToken);
        }
        let empty = Map::new();
        let data = secret
            .get("data")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let id = data_text(data, ID_KEY).ok_or(BootstrapTokenError::Missing(ID_KEY))?;
        let token_secret =
            data_text(data, SECRET_KEY).ok_or(BootstrapTokenError::Missing(SECRET_KEY))?;
        if !is_token_part(&id, 6) || !is_token_part(&token_secret, 16) {
            return Err(BootstrapTokenError::Shape);
        }
        let name = secret.pointer("/metadata/name").and_then(Value::as_str);
        if name != Some(secret_name(&id).as_str()) {
            return Err(BootstrapTokenError::Name);
        }
        let expiration = match data_text(data, EXPIRATION_KEY) {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| BootstrapTokenError::Expiration(text.clone()))?
                    .with_timezone(&Utc),
            ),
        };
        let usages = data
            .keys()
            .filter_map(|k| k.strip_prefix(USAGE_PREFIX))
            .filter(|usage| {
                data_text(data, &format!("{USAGE_PREFIX}{usage}")).as_deref() == Some("true")
            })
            .map(str::to_string)
            .collect();
        let mut extra_groups = Vec::new();
        for group in data_text(data, EXTRA_GROUPS_KEY)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            if !valid_extra_group(group) {
                return Err(BootstrapTokenError::Group(group.into()));
            }
            if !extra_groups.iter().any(|g| g == group) {
                extra_groups.push(group.to_string());
            }
        }
        Ok(BootstrapToken {
            id,
            secret: token_secret,
            expiration,
            usages,
            extra_groups,
            description: data_text(data, DESCRIPTION_KEY).unwrap_or_default(),
        })
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration.is_some_and(|at| at <= now)
    }

    /// Whether the token may authenticate to the API server.
    pub fn authenticates(&self) -> bool {
        self.usages.iter().any(|u| u == AUTHENTICATION_USAGE)
    }

    /// `<id>.<secret>`, the bearer credential.
    pub fn bearer(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The Secret holding this token (with `stringData`, which the API server folds into
    /// `data`).
    pub fn to_secret(&self) -> Value {
        let mut data = Map::new();
        data.insert(ID_KEY.into(), json!(self.id));
        data.insert(SECRET_KEY.into(), json!(self.secret));
        if let Some(at) = self.expiration {
            data.insert(
                EXPIRATION_KEY.into(),
                json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        if !self.description.is_empty() {
            data.insert(DESCRIPTION_KEY.into(), json!(self.description));
        }
        for usage in &self.usages {
            data.insert(format!("{USAGE_PREFIX}{usage}"), json!("true"));
        }
        if !self.extra_groups.is_empty() {
            data.insert(EXTRA_GROUPS_KEY.into(), json!(self.extra_groups.join(",")));
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name(&self.id), "namespace": NAMESPACE},
            "type": SECRET_TYPE,
            "stringData": data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(token: &BootstrapToken) -> Value {
        let mut secret = token.to_secret();
        let string_data = secret
            .as_object_mut()
            .unwrap()
            .remove("stringData")
            .unwrap();
        let data: Map<String, Value> = string_data
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().unwrap();
                (
                    k.clone(),
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                )
            })
            .collect();
        secret["data"] = Value::Object(data);
        secret
    }

    fn token() -> BootstrapToken {
        BootstrapToken {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
            expiration: Some(Utc::now() + chrono::Duration::hours(24)),
            usages: vec![AUTHENTICATION_USAGE.into(), SIGNING_USAGE.into()],
            extra_groups: vec![DEFAULT_NODE_GROUP.into()],
            description: "for the shed".into(),
        }
    }

    #[test]
    fn a_token_survives_its_secret() {
        let t = token();
        let read = BootstrapToken::from_secret(&stored(&t)).unwrap();
        assert_eq!(read.id, t.id);
        assert_eq!(read.bearer(), t.bearer());
        assert_eq!(read.usages, t.usages);
        assert_eq!(read.extra_groups, t.extra_groups);
        assert_eq!(read.description, "for the shed");
        // Stored at second precision.
        let at = read.expiration.unwrap();
        assert!((at - t.expiration.unwrap()).num_seconds().abs() <= 1);
        assert!(read.authenticates());
        assert!(!read.expired(Utc::now()));
        assert!(read.expired(at));
        assert!(!format!("{read:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn malformed_secrets_are_not_tokens() {
        let good = stored(&token());
        let mut wrong_type = good.clone();
        wrong_type["type"] = json!("Opaque");
        assert_eq!(
            BootstrapToken::from_secret(&wrong_type),
            Err(BootstrapTokenError::NotAToken)
        );
        let mut renamed = good.clone();
        renamed["metadata"]["name"] = json!("bootstrap-token-zzzzzz");
        assert_eq!(
            BootstrapToken::from_secret(&renamed),
            Err(BootstrapTokenError::Name)
        );
        let mut no_secret = good.clone();
        no_secret["data"]
            .as_object_mut()
            .unwrap()
            .remove(SECRET_KEY);
        assert_eq!(
            BootstrapToken::from_secret(&no_secret),
            Err(BootstrapTokenError::Missing(SECRET_KEY))
        );
        let mut short = good.clone();
        short["data"][SECRET_KEY] = json!(base64::engine::general_purpose::STANDARD.encode("abc"));
        assert_eq!(
            BootstrapToken::from_secret(&short),
            Err(BootstrapTokenError::Shape)
        );
        let mut bad_time = good.clone();
        bad_time["data"][EXPIRATION_KEY] =
            json!(base64::engine::general_purpose::STANDARD.encode("tomorrow"));
        assert!(matches!(
            BootstrapToken::from_secret(&bad_time),
            Err(BootstrapTokenError::Expiration(_))
        ));
        let mut bad_group = good;
        bad_group["data"][EXTRA_GROUPS_KEY] =
            json!(base64::engine::general_purpose::STANDARD.encode("system:masters"));
        assert_eq!(
            BootstrapToken::from_secret(&bad_group),
            Err(BootstrapTokenError::Group("system:masters".into()))
        );
        assert!(BootstrapToken::from_secret(&json!(null)).is_err());
    }

    #[test]
    fn only_true_usages_count() {
        let mut t = token();
        t.usages = vec![SIGNING_USAGE.into()];
        let mut secret = stored(&t);
        secret["data"]["usage-bootstrap-authentication"] =
            json!(base64::engine::general_purpose::STANDARD.encode("false"));
        let read = BootstrapToken::from_secret(&secret).unwrap();
        assert!(!read.authenticates());
    }

    #[test]
    fn bearers_of_the_token_shape_split() {
        assert_eq!(
            split_bearer("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef",
            "abcde.0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcdef.0123456789abcdefg",
            "abcdef.0123456789abcde_",
        ] {
            assert_eq!(split_bearer(bad), None, "{bad}");
        }
        assert!(valid_extra_group(
            "system:bootstrappers:kubeadm:default-node-token"
        ));
        assert!(!valid_extra_group("system:bootstrappers:"));
        assert!(!valid_extra_group("system:bootstrappers:x-"));
        assert!(!valid_extra_group("system:bootstrappers:UPPER"));
    }
}
