//! Image references as users write them in a pod spec, normalised the way Docker and
//! containerd do (`github.com/distribution/reference` `ParseNormalizedNamed`): `redis` is
//! `docker.io/library/redis:latest`, a first component with a `.` or `:` (or `localhost`)
//! names a registry, and a missing tag defaults to `latest` unless a digest is given.

use std::fmt;

/// The registry Docker Hub images live on when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A reference that is not a valid image name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("couldn't parse image name {image:?}: {reason}")]
pub struct ReferenceError {
    /// The reference as given.
    pub image: String,
    /// Why it is invalid (Docker's wording).
    pub reason: String,
}

/// A fully-qualified image reference: registry, repository, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/redis`.
    pub repository: String,
    /// Tag, if any (`latest` when neither tag nor digest was written).
    pub tag: Option<String>,
    /// Content digest (`sha256:<64 hex>`), if the reference pins one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `image` as `docker pull` would.
    pub fn parse(image: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            image: image.to_string(),
            reason: reason.to_string(),
        };
        if image.is_empty() {
            return Err(err("invalid reference format"));
        }
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => {
                validate_digest(d).map_err(|r| err(&r))?;
                (r, Some(d.to_string()))
            }
            None => (image, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(err("invalid reference format"));
            }
        }
        let (registry, repository) = split_registry(name);
        if !valid_registry(&registry) {
            return Err(err("invalid reference format"));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(&format!(
                "invalid reference format: repository name ({repository}) must be lowercase"
            )));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(err("invalid reference format"));
        }
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(err(
                "invalid reference format: repository name must not be more than 255 characters",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry's manifest endpoint for: the digest if pinned, else the tag.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// The same repository pinned to `digest`.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits off the registry the way `splitDockerDomain` does: the first component is a
/// registry only if it looks like a host (has `.` or `:`, is `localhost`, or has uppercase).
fn split_registry(name: &str) -> (String, String) {
    let (registry, repo) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY.to_string()
    } else {
        registry
    };
    if registry == DEFAULT_REGISTRY && !repo.contains('/') {
        return (registry, format!("library/{repo}"));
    }
    (registry, repo)
}

fn valid_registry(host: &str) -> bool {
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => (h, Some(p)),
        _ => (host, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if h.starts_with('[') && h.ends_with(']') {
        return h[1..h.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty()
        && h.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// Checks `algorithm:hex`; sha256 digests must have 64 lowercase hex digits.
pub fn validate_digest(d: &str) -> Result<(), String> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err("invalid reference format".into());
    };
    if alg == "sha256" {
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("invalid checksum digest length".into());
        }
        return Ok(());
    }
    if alg.is_empty()
        || hex.is_empty()
        || !alg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err("invalid reference format".into());
    }
    Err("unsupported digest algorithm".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("redis"), "docker.io/library/redis:latest");
        assert_eq!(full("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(
            full("index.docker.io/library/redis"),
            "docker.io/library/redis:latest"
        );
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(full("127.0.0.1:5000/x:y"), "127.0.0.1:5000/x:y");
        assert_eq!(
            full(&format!("ghcr.io/o/x@{D}")),
            format!("ghcr.io/o/x@{D}")
        );
        assert_eq!(
            full(&format!("redis:7@{D}")),
            format!("docker.io/library/redis:7@{D}")
        );
    }

    #[test]
    fn parts_and_object() {
        let r = Reference::parse("127.0.0.1:5000/a/b").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.object(), "latest");
        let r = Reference::parse(&format!("ghcr.io/o/x@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.object(), D);
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "Redis",
            "a//b",
            "-a",
            "a:",
            "redis:-x",
            "a@sha256:12",
            "host:port/x",
            "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be rejected");
        }
        let e = Reference::parse("docker.io/Library/redis").unwrap_err();
        assert!(e.to_string().contains("must be lowercase"), "{e}");
    }
}
