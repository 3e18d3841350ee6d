//! Authentication (client certificates, bearer tokens) and authorization.
//!
//! Authentication follows kube-apiserver's union of request authenticators, in its order:
//! a client certificate already verified against the cluster CA by TLS names the user;
//! otherwise an `Authorization: Bearer <token>` header is looked up in the static token
//! file; a request with neither is anonymous. A bearer token that matches nothing is an
//! error (401), not anonymity, exactly as upstream. Authorization is in [`authorize`] (nodes: `node.rs` over `node_graph.rs`;
//! RBAC: `rbac.rs` over `rbac_store.rs`); the 403 text in [`forbidden_message`].

mod authorize;
mod bootstrap_token;
mod forbidden;
mod node;
pub mod node_graph;
pub mod rbac;
mod rbac_store;
pub mod service_account;

pub use crate::pki::identity::{
    identity_from_certificate, AuthError, Identity, ANONYMOUS_USER, AUTHENTICATED_GROUP,
    MASTERS_GROUP, NODES_GROUP, NODE_USER_PREFIX, UNAUTHENTICATED_GROUP, VIEWERS_GROUP,
};
pub use authorize::{authorize, Attributes, AuthorizerSource, Decision};
pub use forbidden::forbidden_message;
pub use node::{NodeGraph, Vertex, NODE_LEASE_NAMESPACE};

use rustls::pki_types::CertificateDer;

use crate::api::registry::Registry;
use crate::pki::tokens::TokenAuthenticator;

/// Message of the 401 Status for a failed authentication, as kube-apiserver writes it.
pub const UNAUTHORIZED_MESSAGE: &str = "Unauthorized";

/// The outcome of authenticating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// Credentials identified a user.
    Authenticated(Identity),
    /// The request carried no usable credentials: it proceeds as anonymous.
    NoCredentials,
    /// A bearer token was presented but is not valid: answer 401 Unauthorized.
    InvalidToken,
}

impl Authn {
    /// The identity to authorize: the authenticated user, or anonymous; `None` means 401.
    pub fn identity(self) -> Option<Identity> {
        match self {
            Authn::Authenticated(identity) => Some(identity),
            Authn::NoCredentials => Some(Identity::anonymous()),
            Authn::InvalidToken => None,
        }
    }
}

/// Authenticates a request from its verified TLS peer certificates (leaf first) and its
/// `Authorization` header value: a bearer token is looked up in the token file, then, with
/// `service_accounts` (the registry) given, as a bootstrap token against its Secret or, if
/// it is a JWT, as a service account token against the registry's objects.
pub fn authenticate(
    peer_certs: Option<&[CertificateDer<'_>]>,
    authorization_header: Option<&str>,
    tokens: &TokenAuthenticator,
    service_accounts: Option<&Registry>,
) -> Authn {
    if let Some(leaf) = peer_certs.and_then(|certs| certs.first()) {
        match identity_from_certificate(leaf) {
            Ok(identity) => return Authn::Authenticated(identity),
            // Upstream's x509 authenticator declines (rather than fails) a certificate
            // without a common name, so the token authenticator still gets its turn.
            Err(e) => tracing::debug!(error = %e, "client certificate names no user"),
        }
    }
    match bearer_token(authorization_header) {
        None => Authn::NoCredentials,
        Some(token) => match tokens.authenticate(token) {
            Some(identity) => Authn::Authenticated(identity),
            None => match service_accounts
                .map(|r| bootstrap_token::authenticate(token, r, chrono::Utc::now()))
            {
                Some(bootstrap_token::Outcome::User(identity)) => Authn::Authenticated(identity),
                Some(bootstrap_token::Outcome::Refused) => Authn::InvalidToken,
                Some(bootstrap_token::Outcome::NotMine) | None => {
                    service_account_token(token, service_accounts)
                }
            },
        },
    }
}

/// A service account token's identity, or 401.
fn service_account_token(token: &str, registry: Option<&Registry>) -> Authn {
    let Some((registry, tokens)) = registry.and_then(|r| Some((r, r.tokens()?))) else {
        return Authn::InvalidToken;
    };
    if !service_account::jwt::looks_like_jws(token) {
        return Authn::InvalidToken;
    }
    match tokens.authenticate(token, registry, chrono::Utc::now()) {
        Ok(identity) => Authn::Authenticated(identity),
        Err(e) => {
            tracing::debug!(error = %e, "service account token refused");
            Authn::InvalidToken
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, as upstream's
/// `bearertoken.Authenticator` reads it: scheme case-insensitive, separated by one space;
/// an empty token counts as no token.
fn bearer_token(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let mut parts = header.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return None;
    }
    Some(token)
}

#[cfg(test)]
pub(crate) mod node_fixture;
#[cfg(test)]
mod node_table;
#[cfg(test)]
mod rbac_fixture;
#[cfg(test)]
mod rbac_tests;
#[cfg(test)]
mod tests;
