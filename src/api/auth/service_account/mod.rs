//! Service account tokens: issuing bound tokens (for the TokenRequest API) and
//! authenticating requests that carry one, as upstream's `serviceaccount` package does.
//!
//! A token is an ES256 JWT signed with the cluster's token key ([`crate::pki::SigningKey`]).
//! It is accepted while its signature verifies, it is within its lifetime (a minute of
//! clock skew allowed either way), one of its audiences is the API server's, and the
//! objects it names still exist with the uids it names: deleting a pod revokes the tokens
//! bound to it. The signature check, the costly part, is remembered per token for the
//! tokens seen most recently; the object checks are made on every request.

mod claims;
pub mod jwt;
mod registry_objects;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub use claims::{Claims, ObjectRef, PrivateClaims};

use crate::pki::identity::Identity;
use crate::pki::SigningKey;

/// User name prefix of service accounts: `system:serviceaccount:<namespace>:<name>`.
pub const USER_PREFIX: &str = "system:serviceaccount:";
/// Group of every service account.
pub const ALL_GROUP: &str = "system:serviceaccounts";
/// `extra` key naming the pod a token is bound to.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
/// `extra` key with the uid of the pod a token is bound to.
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
/// `extra` key naming the node a token is bound to.
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
/// `extra` key with the uid of the node a token is bound to.
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
/// `extra` key with the token's id.
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// Clock skew tolerated on `exp` and `nbf` (go-jose's default leeway, which upstream uses).
const LEEWAY_SECONDS: i64 = 60;
/// Tokens whose verified claims are remembered.
const VERIFIED_CAPACITY: usize = 1024;

/// The user name of service account `namespace/name`.
pub fn user_name(namespace: &str, name: &str) -> String {
    format!("{USER_PREFIX}{namespace}:{name}")
}

/// The namespace and name of a service account user name.
pub fn split_user_name(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(USER_PREFIX)?.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// The kinds a token may be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// A pod: the token dies with it.
    Pod,
    /// A secret.
    Secret,
    /// A node.
    Node,
}

/// What the validator needs to know of an object a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Its uid.
    pub uid: String,
    /// When it is to be deleted, if it is being deleted.
    pub deletion: Option<DateTime<Utc>>,
}

/// Where the validator looks up the objects a token names.
pub trait BoundObjects {
    /// The service account `namespace/name`, if it exists.
    fn service_account(&self, namespace: &str, name: &str) -> Option<Existing>;
    /// The bound object of `kind` (`namespace` is empty for nodes), if it exists.
    fn bound(&self, kind: BoundKind, namespace: &str, name: &str) -> Option<Existing>;
}

/// What a new token says.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// The audiences; empty means the API server's.
    pub audiences: Vec<String>,
    /// Seconds the token is valid for.
    pub lifetime: i64,
    /// Seconds after which a token given a longer life than asked should have been renewed.
    pub warn_after: Option<i64>,
    /// The pod it is bound to.
    pub pod: Option<ObjectRef>,
    /// The secret it is bound to.
    pub secret: Option<ObjectRef>,
    /// The node it is bound to (for a pod, the pod's node).
    pub node: Option<ObjectRef>,
}

/// Why a token was refused (logged; the client only sees 401 Unauthorized).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenInvalid {
    /// Shape, header or signature.
    #[error(transparent)]
    Jwt(#[from] jwt::JwtError),
    /// Issued by someone else.
    #[error("token issuer {0:?} is not this server's")]
    Issuer(String),
    /// Not valid at this time.
    #[error("token is expired or not yet valid")]
    Lifetime,
    /// Meant for another audience.
    #[error("token audiences {0:?} are invalid for this server")]
    Audience(Vec<String>),
    /// The subject does not match the private claims.
    #[error("token subject {0:?} does not match its service account")]
    Subject(String),
    /// The service account or bound object is gone, recreated or being deleted.
    #[error("{0}")]
    Revoked(String),
}

/// Issues and checks service account tokens.
#[derive(Debug)]
pub struct ServiceAccountTokens {
    key: SigningKey,
    issuer: String,
    audiences: Vec<String>,
    verified: Mutex<HashMap<[u8; 32], Claims>>,
}

impl ServiceAccountTokens {
    /// Tokens signed with `key` whose issuer (and API audience) is
    /// `https://kubernetes.default.svc.<cluster_domain>`, as k3s configures it.
    pub fn new(key: SigningKey, cluster_domain: &str) -> Self {
        let issuer = format!("https://kubernetes.default.svc.{cluster_domain}");
        Self {
            key,
            audiences: vec![issuer.clone()],
            issuer,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences the API server accepts, given to tokens that ask for none.
    pub fn api_audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The signing key (its public half is published for other verifiers).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// A signed token for `grant`, issued at `now`.
    pub fn issue(&self, grant: &Grant, now: DateTime<Utc>) -> Result<String, jwt::JwtError> {
        let iat = now.timestamp();
        let audiences = if grant.audiences.is_empty() {
            self.audiences.clone()
        } else {
            grant.audiences.clone()
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user_name(&grant.namespace, &grant.service_account.name),
            aud: audiences,
            exp: iat.saturating_add(grant.lifetime),
            iat,
            nbf: iat,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: PrivateClaims {
                namespace: grant.namespace.clone(),
                serviceaccount: grant.service_account.clone(),
                pod: grant.pod.clone(),
                secret: grant.secret.clone(),
                node: grant.node.clone(),
                warnafter: grant.warn_after.map(|w| iat.saturating_add(w)),
            },
        };
        jwt::encode(&claims, &self.key)
    }

    /// The identity `token` stands for at `now`.
    pub fn authenticate(
        &self,
        token: &str,
        objects: &dyn BoundObjects,
        now: DateTime<Utc>,
    ) -> Result<Identity, TokenInvalid> {
        let claims = self.verified_claims(token)?;
        let t = now.timestamp();
        if t > claims.exp.saturating_add(LEEWAY_SECONDS)
            || t < claims.nbf.saturating_sub(LEEWAY_SECONDS)
        {
            return Err(TokenInvalid::Lifetime);
        }
        let k = &claims.kubernetes;
        if claims.sub != user_name(&k.namespace, &k.serviceaccount.name) {
            return Err(TokenInvalid::Subject(claims.sub));
        }
        check_live(
            "service account",
            objects.service_account(&k.namespace, &k.serviceaccount.name),
            &k.serviceaccount,
            now,
        )?;
        for (kind, label, namespace, r) in [
            (BoundKind::Pod, "pod", k.namespace.as_str(), &k.pod),
            (BoundKind::Secret, "secret", k.namespace.as_str(), &k.secret),
        ] {
            if let Some(r) = r {
                check_live(label, objects.bound(kind, namespace, &r.name), r, now)?;
            }
        }
        // a node named beside a pod only says where the pod ran; a token bound to the node
        // itself dies with the node
        if let (None, Some(node)) = (&k.pod, &k.node) {
            check_live(
                "node",
                objects.bound(BoundKind::Node, "", &node.name),
                node,
                now,
            )?;
        }
        Ok(identity(&claims))
    }

    /// The claims of `token` once its signature, issuer and audience check out.
    fn verified_claims(&self, token: &str) -> Result<Claims, TokenInvalid> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        if let Some(claims) = self.remembered().get(&id) {
            return Ok(claims.clone());
        }
        let claims: Claims = jwt::decode(token, &self.key)?;
        if claims.iss != self.issuer {
            return Err(TokenInvalid::Issuer(claims.iss));
        }
        if !claims.aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(TokenInvalid::Audience(claims.aud));
        }
        let mut remembered = self.remembered();
        if remembered.len() >= VERIFIED_CAPACITY {
            remembered.clear();
        }
        remembered.insert(id, claims.clone());
        Ok(claims)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Claims>> {
        // the map holds only verified claims; a panic elsewhere cannot leave it half-written
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Refuses a token whose object is gone, was recreated (another uid) or is being deleted.
fn check_live(
    what: &str,
    found: Option<Existing>,
    named: &ObjectRef,
    now: DateTime<Utc>,
) -> Result<(), TokenInvalid> {
    let Some(found) = found else {
        return Err(TokenInvalid::Revoked(format!(
            "{what} {:?} has been deleted",
            named.name
        )));
    };
    if !named.uid.is_empty() && found.uid != named.uid {
        return Err(TokenInvalid::Revoked(format!(
            "{what} {:?} uid ({}) does not match the token's ({})",
            named.name, found.uid, named.uid
        )));
    }
    if found.deletion.is_some_and(|d| d <= now) {
        return Err(TokenInvalid::Revoked(format!(
            "{what} {:?} is being deleted",
            named.name
        )));
    }
    Ok(())
}

/// The user a token's claims name, as upstream's `UserInfo` for service accounts.
fn identity(claims: &Claims) -> Identity {
    let k = &claims.kubernetes;
    let mut identity = Identity::authenticated(
        user_name(&k.namespace, &k.serviceaccount.name),
        vec![
            ALL_GROUP.to_string(),
            format!("{ALL_GROUP}:{}", k.namespace),
        ],
    );
    identity.uid = k.serviceaccount.uid.clone();
    let mut extra = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
            extra.insert(key.to_string(), vec![value.to_string()]);
        }
    };
    if let Some(pod) = &k.pod {
        put(EXTRA_POD_NAME, &pod.name);
        put(EXTRA_POD_UID, &pod.uid);
    }
    if let Some(node) = &k.node {
        put(EXTRA_NODE_NAME, &node.name);
        put(EXTRA_NODE_UID, &node.uid);
    }
    if !claims.jti.is_empty() {
        put(EXTRA_CREDENTIAL_ID, &format!("JTI={}", claims.jti));
    }
    identity.extra = extra;
    identity
}

#[cfg(test)]
mod tests;

/// A registry that issues tokens, with namespace `apps`, for the tests of what uses them.
#[cfg(test)]
pub(crate) async fn test_registry(dir: &std::path::Path) -> crate::api::registry::Registry {
    use crate::api::registry::{Registry, WriteOptions};
    let tokens = ServiceAccountTokens::new(SigningKey::ephemeral(), "cluster.local");
    let r = Registry::new(crate::store::Store::open(dir, 64).unwrap())
        .with_tokens(std::sync::Arc::new(tokens));
    r.create(
        &crate::resources::namespace::RESOURCE,
        "",
        serde_json::json!({"metadata": {"name": "apps"}}),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    r
}
