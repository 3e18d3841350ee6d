//! `bramble server`'s Pod Security Admission flags, standing in for upstream's
//! `PodSecurityConfiguration` file: the defaults a namespace without labels gets, written as
//! the labels would be (`enforce=baseline,warn=restricted,warn-version=v1.30`), and the
//! namespaces, runtime classes and users that are exempt.

use clap::Args;

use crate::api::admission::pod_security::policy::{self, Policy, LABEL_PREFIX};
use crate::api::admission::pod_security::PodSecurityConfig;

/// Flags of Pod Security Admission.
#[derive(Debug, Clone, Args)]
pub struct PodSecurityArgs {
    /// Policy of namespaces without `pod-security.kubernetes.io/` labels, as comma-separated
    /// `MODE=VALUE` pairs with the labels' names (enforce, enforce-version, audit,
    /// audit-version, warn, warn-version); every mode is `privileged:latest` unless given.
    #[arg(long, value_name = "MODE=VALUE,...", value_parser = parse_defaults, env = "BRAMBLE_POD_SECURITY_DEFAULTS")]
    pub pod_security_defaults: Option<Policy>,
    /// A namespace whose pods Pod Security Admission never checks (repeatable, or
    /// comma-separated).
    #[arg(
        long,
        value_name = "NAMESPACE",
        value_delimiter = ',',
        env = "BRAMBLE_POD_SECURITY_EXEMPT_NAMESPACES"
    )]
    pub pod_security_exempt_namespace: Vec<String>,
    /// A runtime class whose pods Pod Security Admission never checks (repeatable, or
    /// comma-separated).
    #[arg(
        long,
        value_name = "RUNTIMECLASS",
        value_delimiter = ',',
        env = "BRAMBLE_POD_SECURITY_EXEMPT_RUNTIME_CLASSES"
    )]
    pub pod_security_exempt_runtime_class: Vec<String>,
    /// A user whose pod requests Pod Security Admission never checks (repeatable, or
    /// comma-separated).
    #[arg(
        long,
        value_name = "USER",
        value_delimiter = ',',
        env = "BRAMBLE_POD_SECURITY_EXEMPT_USERS"
    )]
    pub pod_security_exempt_user: Vec<String>,
}

impl PodSecurityArgs {
    /// The admission settings these flags give.
    pub fn config(&self) -> PodSecurityConfig {
        PodSecurityConfig {
            defaults: self.pod_security_defaults.unwrap_or_default(),
            exempt_namespaces: self.pod_security_exempt_namespace.clone(),
            exempt_runtime_classes: self.pod_security_exempt_runtime_class.clone(),
            exempt_users: self.pod_security_exempt_user.clone(),
        }
    }
}

/// Parses `enforce=baseline,warn-version=v1.30` with the labels' own rules.
fn parse_defaults(s: &str) -> Result<Policy, String> {
    const MODES: [&str; 6] = [
        "enforce",
        "enforce-version",
        "audit",
        "audit-version",
        "warn",
        "warn-version",
    ];
    let mut labels = serde_json::Map::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let (mode, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not MODE=VALUE"))?;
        if !MODES.contains(&mode) {
            return Err(format!(
                "unknown mode {mode:?} (one of {})",
                MODES.join(", ")
            ));
        }
        labels.insert(format!("{LABEL_PREFIX}{mode}"), value.into());
    }
    let labels = serde_json::Value::Object(labels);
    let (defaults, errs) = policy::from_labels(Some(&labels), Policy::default());
    match errs.first() {
        Some(e) => Err(e.detail.clone()),
        None => Ok(defaults),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_like_labels() {
        let p = parse_defaults("enforce=baseline,warn=restricted,warn-version=v1.30").unwrap();
        assert_eq!(p.enforce.to_string(), "baseline:latest");
        assert_eq!(p.warn.to_string(), "restricted:v1.30");
        assert_eq!(p.audit.to_string(), "privileged:latest");
        assert_eq!(
            parse_defaults("enforce=strict").unwrap_err(),
            "Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        );
        assert!(parse_defaults("mode=x")
            .unwrap_err()
            .starts_with("unknown mode"));
    }
}
