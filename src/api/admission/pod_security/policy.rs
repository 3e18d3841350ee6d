//! A namespace's PodSecurity policy, as upstream's `api/constants.go` and `api/helpers.go`:
//! the `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` labels over the cluster's
//! defaults, levels `privileged` < `baseline` < `restricted`, versions `latest` or `v1.N`.
//! Invalid values are reported as field errors; a bad enforce level fails closed
//! (restricted), bad audit and warn levels fail open (privileged), as upstream does.

use std::fmt;

use serde_json::{json, Value};

use crate::resources::FieldError;

/// The labels' common prefix.
pub const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// A Pod Security Standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Unrestricted.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Current pod hardening best practice.
    Restricted,
}

impl Level {
    /// Parses a level label value; on error, upstream's fallback (restricted) and the error.
    pub fn parse(s: &str) -> Result<Level, &'static str> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted"),
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A policy version: `latest` (the server's own) or `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The checks as this server has them.
    Latest,
    /// The checks as Kubernetes v1.`minor` had them.
    Minor(u32),
}

impl Version {
    /// Parses a version label value.
    pub fn parse(s: &str) -> Result<Version, &'static str> {
        const ERR: &str = "must be \"latest\" or \"v1.x\"";
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let digits = s.strip_prefix("v1.").ok_or(ERR)?;
        let canonical = digits == "0" || !digits.starts_with('0');
        if digits.is_empty() || !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ERR);
        }
        digits.parse().map(Version::Minor).map_err(|_| ERR)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Minor(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A level at a version, printed `restricted:latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// The version of its checks.
    pub version: Version,
}

impl LevelVersion {
    /// `privileged:latest`, upstream's default for every mode.
    pub const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };

    /// Whether the two allow the same pods for sure (both privileged, or identical).
    pub fn equivalent(&self, other: &LevelVersion) -> bool {
        (self.level == Level::Privileged && other.level == Level::Privileged) || self == other
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// What each mode applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Pods that violate it are refused.
    pub enforce: LevelVersion,
    /// Violations are logged.
    pub audit: LevelVersion,
    /// Violations are returned as warnings.
    pub warn: LevelVersion,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enforce: LevelVersion::PRIVILEGED,
            audit: LevelVersion::PRIVILEGED,
            warn: LevelVersion::PRIVILEGED,
        }
    }
}

impl Policy {
    /// Whether no mode restricts anything.
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }

    /// Whether every mode is equivalent to `other`'s.
    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }
}

/// The policy a namespace with `labels` gets over `defaults`, and what is wrong with the labels.
pub fn from_labels(labels: Option<&Value>, defaults: Policy) -> (Policy, Vec<FieldError>) {
    let mut p = defaults;
    let mut errs = Vec::new();
    let Some(labels) = labels.and_then(Value::as_object).filter(|l| !l.is_empty()) else {
        return (p, errs);
    };
    let label = |mode: &str| {
        labels
            .get(&format!("{LABEL_PREFIX}{mode}"))
            .map(|v| v.as_str().unwrap_or(""))
    };
    let mut invalid = |mode: &str, value: &str, why: &str| {
        errs.push(FieldError::invalid(
            format!("metadata.labels[{LABEL_PREFIX}{mode}]"),
            &json!(value),
            why,
        ));
    };
    let mut has_enforce_level = false;
    if let Some(v) = label("enforce") {
        p.enforce.level = Level::parse(v).unwrap_or_else(|why| {
            invalid("enforce", v, why);
            Level::Restricted
        });
        has_enforce_level = Level::parse(v).is_ok();
    }
    if let Some(v) = label("enforce-version") {
        p.enforce.version = Version::parse(v).unwrap_or_else(|why| {
            invalid("enforce-version", v, why);
            Version::Latest
        });
    }
    if let Some(v) = label("audit") {
        p.audit.level = Level::parse(v).unwrap_or_else(|why| {
            invalid("audit", v, why);
            Level::Privileged
        });
    }
    if let Some(v) = label("audit-version") {
        p.audit.version = Version::parse(v).unwrap_or_else(|why| {
            invalid("audit-version", v, why);
            Version::Latest
        });
    }
    let has_warn_level = label("warn").is_some();
    if let Some(v) = label("warn") {
        p.warn.level = Level::parse(v).unwrap_or_else(|why| {
            invalid("warn", v, why);
            Level::Privileged
        });
    }
    let has_warn_version = label("warn-version").is_some();
    if let Some(v) = label("warn-version") {
        p.warn.version = Version::parse(v).unwrap_or_else(|why| {
            invalid("warn-version", v, why);
            Version::Latest
        });
    }
    // An enforce level stricter than the warn level also warns, so `kubectl apply` of a
    // workload shows what enforcement will refuse.
    if !has_warn_level && has_enforce_level && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if !has_warn_version {
            p.warn.version = p.enforce.version;
        }
    }
    (p, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(labels: Value) -> (Policy, Vec<String>) {
        let (p, errs) = from_labels(Some(&labels), Policy::default());
        (p, errs.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn versions_parse_as_upstream() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::Minor(0)));
        assert_eq!(Version::parse("v1.32"), Ok(Version::Minor(32)));
        for bad in [
            "v1.01",
            "v2.1",
            "1.2",
            "v1.",
            "v1.x",
            "v1.99999999999",
            "Latest",
            "v1.+1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enforce_implies_warn_unless_warn_is_set() {
        let (p, errs) = policy(json!({"pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "v1.30"}));
        assert!(errs.is_empty());
        assert_eq!(p.enforce.to_string(), "baseline:v1.30");
        assert_eq!(p.warn.to_string(), "baseline:v1.30");
        assert_eq!(p.audit.to_string(), "privileged:latest");
        let (p, _) = policy(json!({"pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "privileged"}));
        assert_eq!(p.warn.level, Level::Privileged);
    }

    #[test]
    fn invalid_values_fail_closed_for_enforce_and_open_for_the_rest() {
        let (p, errs) = policy(json!({"pod-security.kubernetes.io/enforce": "strict",
            "pod-security.kubernetes.io/warn": "loud",
            "pod-security.kubernetes.io/audit-version": "v2"}));
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(p.warn.level, Level::Privileged);
        assert_eq!(
            errs,
            [
                "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted",
                "metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: \"v2\": must be \"latest\" or \"v1.x\"",
                "metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: \"loud\": must be one of privileged, baseline, restricted",
            ]
        );
    }
}
