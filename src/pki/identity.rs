//! Who is making a request: the user name and groups Kubernetes authorizes against.
//!
//! Mirrors `user.Info` from k8s.io/apiserver: a client certificate yields CN = user and
//! O = groups (`x509.CommonNameUserConversion`), a static token yields the user and groups
//! of its token file record, and every authenticated identity also carries
//! `system:authenticated` (`group.AuthenticatedGroupAdder`). A request without credentials
//! is `system:anonymous` in `system:unauthenticated`.

use std::collections::BTreeMap;

use x509_parser::prelude::X509Certificate;

/// Group of every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// User name of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// Group whose members may do everything (the cluster admin).
pub const MASTERS_GROUP: &str = "system:masters";
/// Group of node (kubelet) identities.
pub const NODES_GROUP: &str = "system:nodes";
/// Prefix of a node's user name: `system:node:<node name>`.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// Bramble's read-only group: reads everything but secrets.
pub const VIEWERS_GROUP: &str = "bramble:viewers";

/// Errors turning credentials into an identity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The certificate could not be parsed.
    #[error("unparseable client certificate: {0}")]
    BadCertificate(String),
    /// The certificate has no (or an empty) subject common name, so it names no user.
    #[error("client certificate has no common name")]
    NoCommonName,
}

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name, e.g. `admin` or `system:node:pi-2`.
    pub user: String,
    /// The groups, e.g. `system:masters`, `system:authenticated`.
    pub groups: Vec<String>,
    /// The user's uid when the authenticator knows one (a service account's), else empty.
    pub uid: String,
    /// Further facts the authenticator vouches for (upstream `UserInfo.Extra`), e.g. the pod
    /// a service account token is bound to.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// An authenticated identity: `groups` plus `system:authenticated`, unless the groups
    /// already name `system:authenticated` or `system:unauthenticated` (as upstream).
    pub fn authenticated(user: impl Into<String>, mut groups: Vec<String>) -> Identity {
        let marked = groups
            .iter()
            .any(|g| g == AUTHENTICATED_GROUP || g == UNAUTHENTICATED_GROUP);
        if !marked {
            groups.push(AUTHENTICATED_GROUP.to_string());
        }
        Identity {
            user: user.into(),
            groups,
            uid: String::new(),
            extra: BTreeMap::new(),
        }
    }

    /// The identity of a request without credentials.
    pub fn anonymous() -> Identity {
        Identity {
            user: ANONYMOUS_USER.to_string(),
            groups: vec![UNAUTHENTICATED_GROUP.to_string()],
            uid: String::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Whether the identity is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node name for a node identity (`system:node:<name>` in `system:nodes`), as
    /// upstream's `nodeidentifier.NodeIdentity` reads it.
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(NODES_GROUP) {
            return None;
        }
        self.user
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|name| !name.is_empty())
    }
}

/// The identity in a client certificate (DER): CN → user, every O → a group, plus
/// `system:authenticated`. The TLS layer has already verified the chain to the cluster CA.
pub fn identity_from_certificate(der: &[u8]) -> Result<Identity, AuthError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| AuthError::BadCertificate(e.to_string()))?;
    identity_from_parsed(&cert)
}

fn identity_from_parsed(cert: &X509Certificate<'_>) -> Result<Identity, AuthError> {
    let subject = cert.subject();
    // Go's pkix.Name keeps the last CN when there are several.
    let user = subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .last()
        .unwrap_or_default();
    if user.is_empty() {
        return Err(AuthError::NoCommonName);
    }
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_string)
        .collect();
    Ok(Identity::authenticated(user, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_group_is_added_once() {
        let who = Identity::authenticated("alice", vec!["dev".into()]);
        assert_eq!(who.groups, vec!["dev", AUTHENTICATED_GROUP]);
        let again = Identity::authenticated("alice", who.groups.clone());
        assert_eq!(again.groups, who.groups);
    }

    #[test]
    fn node_name_needs_prefix_and_group() {
        let node = Identity::authenticated("system:node:pi-2", vec![NODES_GROUP.into()]);
        assert_eq!(node.node_name(), Some("pi-2"));
        let impostor = Identity::authenticated("system:node:pi-2", vec![]);
        assert_eq!(impostor.node_name(), None);
        let nameless = Identity::authenticated("system:node:", vec![NODES_GROUP.into()]);
        assert_eq!(nameless.node_name(), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            identity_from_certificate(b"not der"),
            Err(AuthError::BadCertificate(_))
        ));
    }
}
