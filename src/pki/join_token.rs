//! Join tokens: what a new board needs to join a cluster safely, in one string.
//!
//! A token is `<id>.<secret>::sha256:<hex>`: a bearer credential shaped like kubeadm's
//! bootstrap tokens (`[a-z0-9]{6}.[a-z0-9]{16}`), which authenticates as
//! `system:bootstrap:<id>` in group `system:bootstrappers`, and the SHA-256 of the cluster
//! CA's public key (its DER SubjectPublicKeyInfo, as kubeadm's
//! `--discovery-token-ca-cert-hash`). The hash lets a board that has nothing yet trust the
//! server on first contact: it accepts only a server whose chain carries a CA with that
//! key, so a token sent over an unverified network cannot be captured by an impostor.
//!
//! The server keeps its token in `DATA_DIR/join-token` (mode 0600), created on first start;
//! `sudo cat /var/lib/bramble/join-token` prints it, as k3s' `node-token`.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{PkiError, PRIVATE_MODE};

/// Group every join-token identity is in (upstream's bootstrap token group).
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// User name prefix of join-token identities.
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";
/// File under the server's data directory holding the join token.
pub const JOIN_TOKEN_FILE: &str = "join-token";

/// Why a token string is not a join token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    /// The overall shape is wrong.
    #[error(
        "a join token looks like abcdef.0123456789abcdef::sha256:<64 hex digits>; \
         print the server's with `sudo cat /var/lib/bramble/join-token`"
    )]
    Shape,
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    id: String,
    secret: String,
    ca_hash: String,
}

impl fmt::Debug for JoinToken {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("ca_hash", &self.ca_hash)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}::{}", self.id, self.secret, self.ca_hash)
    }
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_ca_hash(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl JoinToken {
    /// Parses `<id>.<secret>::sha256:<hex>` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<JoinToken, JoinTokenError> {
        let (bearer, hash) = text.trim().split_once("::").ok_or(JoinTokenError::Shape)?;
        let (id, secret) = bearer.split_once('.').ok_or(JoinTokenError::Shape)?;
        if !is_token_part(id, 6) || !is_token_part(secret, 16) || !is_ca_hash(hash) {
            return Err(JoinTokenError::Shape);
        }
        Ok(JoinToken {
            id: id.into(),
            secret: secret.into(),
            ca_hash: hash.to_ascii_lowercase(),
        })
    }

    /// A new random token for the CA whose public key hashes to `ca_hash`.
    pub fn generate(ca_hash: &str) -> JoinToken {
        let bearer = super::tokens::generate_token();
        let (id, secret) = bearer.split_once('.').unwrap_or_default();
        JoinToken {
            id: id.into(),
            secret: secret.into(),
            ca_hash: ca_hash.into(),
        }
    }

    /// The bearer credential sent to the server (`<id>.<secret>`).
    pub fn bearer(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The user the bearer authenticates as.
    pub fn user(&self) -> String {
        format!("{BOOTSTRAP_USER_PREFIX}{}", self.id)
    }

    /// The pinned CA public key hash (`sha256:<hex>`).
    pub fn ca_hash(&self) -> &str {
        &self.ca_hash
    }

    /// Loads the server's token from `path`, creating it on first start. A token whose CA
    /// hash no longer matches (the CA was replaced) keeps its secret and gets the new hash.
    pub fn load_or_create(path: &Path, ca_pem: &str) -> Result<JoinToken, PkiError> {
        let hash = ca_hash(ca_pem)?;
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => Some(
                JoinToken::parse(&text).map_err(|source| PkiError::JoinToken {
                    path: path.to_path_buf(),
                    source,
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PkiError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let token = match existing {
            Some(t) if t.ca_hash == hash => return Ok(t),
            Some(t) => JoinToken { ca_hash: hash, ..t },
            None => JoinToken::generate(&hash),
        };
        super::write_atomic(path, format!("{token}\n").as_bytes(), PRIVATE_MODE).map_err(
            |source| PkiError::Io {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Ok(token)
    }
}

/// `sha256:<hex>` of the first certificate's SubjectPublicKeyInfo in `pem`.
pub fn ca_hash(pem: &str) -> Result<String, PkiError> {
    let der = super::ca::first_certificate(pem)?;
    Ok(spki_hash(&der))
}

/// `sha256:<hex>` of a DER certificate's SubjectPublicKeyInfo; empty when it does not parse.
pub fn spki_hash(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_round_trips_and_keeps_its_parts() {
        let t = JoinToken::generate(HASH);
        let parsed = JoinToken::parse(&format!("  {t}\n")).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.ca_hash(), HASH);
        assert!(parsed.user().starts_with("system:bootstrap:"));
        assert_eq!(parsed.bearer().len(), 23);
        assert!(!format!("{parsed:?}").contains(&parsed.bearer()[7..]));
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_remedy() {
        for bad in [
            "",
            "abcdef.0123456789abcdef",
            "abcdef.0123456789abcdef::sha256:12",
            "ABCDEF.0123456789abcdef::sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "abcdef.0123456789abcdef::md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            let e = JoinToken::parse(bad).unwrap_err();
            assert!(e.to_string().contains("join-token"), "{bad:?}");
        }
    }

    #[test]
    fn the_server_token_is_created_once_and_follows_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(
            &dir.path().join("pki"),
            &crate::pki::ServerNames::discover(),
        )
        .unwrap();
        let path = dir.path().join(JOIN_TOKEN_FILE);
        let first = JoinToken::load_or_create(&path, pki.ca_pem()).unwrap();
        assert_eq!(first.ca_hash(), ca_hash(pki.ca_pem()).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            JoinToken::load_or_create(&path, pki.ca_pem()).unwrap(),
            first
        );

        let other = crate::pki::Pki::load_or_create(
            &dir.path().join("pki2"),
            &crate::pki::ServerNames::discover(),
        )
        .unwrap();
        let moved = JoinToken::load_or_create(&path, other.ca_pem()).unwrap();
        assert_eq!(moved.bearer(), first.bearer());
        assert_ne!(moved.ca_hash(), first.ca_hash());
    }
}
