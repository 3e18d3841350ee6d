//! Resolving what the user typed (`pods`, `pod`, `po`, `Pod`, `storageclasses.storage.k8s.io`,
//! `pod/x`) to a served [`ResourceType`], as kubectl's REST mapper does from discovery; here
//! the served kinds are known at build time ([`RESOURCES`]).

use super::error::CtlError;
use crate::resources::{ResourceType, RESOURCES};

/// Finds the type named by `arg`: plural, singular, short name or kind, optionally followed
/// by `.group` (upstream `ResourceOrKindArgs`), case-insensitively.
pub(crate) fn resolve(arg: &str) -> Result<&'static ResourceType, CtlError> {
    let lower = arg.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    RESOURCES
        .iter()
        .copied()
        .find(|rt| {
            let group_ok = match &group {
                // `pods.v1.` style (version.group) is accepted too
                Some(g) => {
                    g == rt.group
                        || *g == format!("{}.{}", rt.version, rt.group)
                        || (rt.group.is_empty() && (g == rt.version || g == "core"))
                }
                None => true,
            };
            group_ok
                && (name == rt.plural
                    || name == rt.singular
                    || name == rt.kind.to_ascii_lowercase()
                    || rt.short_names.contains(&name.as_str()))
        })
        .ok_or_else(|| {
            CtlError::Usage(format!("the server doesn't have a resource type \"{arg}\""))
        })
}

/// How kubectl names a type in messages: the lower-case kind, with `.group` outside the core
/// group (`pod`, `storageclass.storage.k8s.io`).
pub(crate) fn kind_label(rt: &ResourceType) -> String {
    let kind = rt.kind.to_ascii_lowercase();
    if rt.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", rt.group)
    }
}

/// Which objects a `KIND NAME...` or `KIND/NAME...` argument list addresses.
pub(crate) struct Targets {
    /// Type and names, in the order given; no names means "all of this type".
    pub groups: Vec<(&'static ResourceType, Vec<String>)>,
}

/// Parses `get`/`delete`/`describe` arguments: either `KIND [NAME...]` or one or more
/// `KIND/NAME` (upstream `ResourceTypeOrNameArgs`; the two forms cannot be mixed).
pub(crate) fn targets(args: &[String]) -> Result<Targets, CtlError> {
    let Some(first) = args.first() else {
        return Err(CtlError::Usage(
            "you must specify the type of resource to get".into(),
        ));
    };
    if first.contains('/') {
        let mut groups: Vec<(&'static ResourceType, Vec<String>)> = Vec::new();
        for arg in args {
            let Some((kind, name)) = arg.split_once('/').filter(|(_, n)| !n.is_empty()) else {
                return Err(CtlError::Usage(format!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'bramble ctl get resource/<resource_name>' instead of 'bramble ctl get resource resource/<resource_name>'): {arg:?}"
                )));
            };
            let rt = resolve(kind)?;
            match groups.iter_mut().find(|(t, _)| std::ptr::eq(*t, rt)) {
                Some((_, names)) => names.push(name.to_string()),
                None => groups.push((rt, vec![name.to_string()])),
            }
        }
        return Ok(Targets { groups });
    }
    let mut groups = Vec::new();
    let names: Vec<String> = args[1..].to_vec();
    if names.iter().any(|n| n.contains('/')) {
        return Err(CtlError::Usage(
            "arguments in resource/name form must have a single resource and name".into(),
        ));
    }
    for kind in first.split(',').filter(|k| !k.is_empty()) {
        groups.push((resolve(kind)?, names.clone()));
    }
    Ok(Targets { groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kubectl_spelling_resolves() {
        for arg in ["pods", "pod", "po", "Pod", "PODS", "pods.v1.", "pod.core"] {
            assert_eq!(
                resolve(arg.trim_end_matches('.')).unwrap().kind,
                "Pod",
                "{arg}"
            );
        }
        assert_eq!(resolve("sc").unwrap().kind, "StorageClass");
        assert_eq!(
            resolve("storageclasses.storage.k8s.io").unwrap().kind,
            "StorageClass"
        );
        assert_eq!(resolve("pvc").unwrap().kind, "PersistentVolumeClaim");
        assert_eq!(resolve("no").unwrap().kind, "Node");
    }

    #[test]
    fn unknown_kind_is_reported_like_kubectl() {
        let e = resolve("widgets").err().unwrap();
        assert_eq!(
            e.line().unwrap(),
            "error: the server doesn't have a resource type \"widgets\""
        );
        assert!(resolve("pods.apps").is_err());
    }

    #[test]
    fn targets_accept_both_forms() {
        let t = targets(&["pod".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(t.groups.len(), 1);
        assert_eq!(t.groups[0].1, vec!["a", "b"]);
        let t = targets(&["pod/a".into(), "no/n1".into(), "po/b".into()]).unwrap();
        assert_eq!(t.groups.len(), 2);
        assert_eq!(t.groups[0].1, vec!["a", "b"]);
        assert_eq!(t.groups[1].0.kind, "Node");
        assert!(targets(&["pod".into(), "pod/a".into()]).is_err());
        let t = targets(&["pods,nodes".into()]).unwrap();
        assert_eq!(t.groups.len(), 2);
    }

    #[test]
    fn labels_carry_the_group_outside_core() {
        assert_eq!(
            kind_label(resolve("sc").unwrap()),
            "storageclass.storage.k8s.io"
        );
        assert_eq!(kind_label(resolve("po").unwrap()), "pod");
    }
}
