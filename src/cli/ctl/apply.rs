//! `bramble ctl apply -f FILE`: kubectl's client-side apply. Each object is created if it
//! does not exist; otherwise a three-way strategic merge patch ([`three_way_patch`]) between
//! the last applied configuration (kept in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation, so kubectl and `bramble ctl` can take turns), the file and the live object is
//! sent. Prints `kind/name created|configured|unchanged` like kubectl; a failing object is
//! reported and the others are still applied.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};

use super::api::{self, ACCEPT_JSON};
use super::error::CtlError;
use super::kinds::kind_label;
use super::manifest::{self, Manifest};
use super::three_way::three_way_patch;
use super::Session;
use crate::resources::{lookup_kind, ResourceType};

/// The annotation holding the last applied configuration (`corev1.LastAppliedConfigAnnotation`).
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Content type of the patch sent (all served kinds are built-in types with merge keys).
const STRATEGIC_MERGE: &str = "application/strategic-merge-patch+json";

/// Arguments of `bramble ctl apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files, directories or `-` (stdin) holding the configuration.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `apply`.
pub(crate) async fn run(
    session: &Session,
    args: ApplyArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    let manifests = manifest::read_all(&args.files)?;
    let mut failed = false;
    for m in manifests {
        match apply_one(session, m, err).await {
            Ok(line) => writeln!(out, "{line}")?,
            Err(e) => {
                failed = true;
                if let Some(line) = e.line() {
                    writeln!(err, "{line}")?;
                }
            }
        }
    }
    if failed {
        return Err(CtlError::AlreadyReported);
    }
    Ok(())
}

/// The type, namespace and name an object from a file addresses (upstream's resource
/// builder with `DefaultNamespace` and `RequireNamespace` when `-n` was given).
pub(crate) fn locate(
    session: &Session,
    m: &mut Manifest,
) -> Result<(&'static ResourceType, Option<String>, String), CtlError> {
    let text = |p: &str| {
        m.object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let object_ns = text("/metadata/namespace");
    let Some(rt) = lookup_kind(&api_version, &kind) else {
        return Err(CtlError::Usage(format!(
            "resource mapping not found for name: \"{name}\" namespace: \"{object_ns}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"",
            m.source
        )));
    };
    if name.is_empty() {
        return Err(CtlError::Usage(format!(
            "error from \"{}\": {} has no metadata.name: resource name may not be empty",
            m.source,
            kind_label(rt)
        )));
    }
    if !rt.namespaced {
        return Ok((rt, None, name));
    }
    let ns = if object_ns.is_empty() {
        session.namespace.clone()
    } else {
        if session.namespace_explicit && object_ns != session.namespace {
            return Err(CtlError::Usage(format!(
                "the namespace from the provided object \"{object_ns}\" does not match the namespace \"{}\". You must pass '--namespace={object_ns}' to perform this operation.",
                session.namespace
            )));
        }
        object_ns
    };
    if let Some(meta) = m.object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    Ok((rt, Some(ns), name))
}

async fn apply_one(
    session: &Session,
    mut m: Manifest,
    err: &mut dyn Write,
) -> Result<String, CtlError> {
    let (rt, ns, name) = locate(session, &mut m)?;
    let label = format!("{}/{name}", kind_label(rt));
    let modified = with_last_applied(m.object)?;
    let collection = api::path(rt, ns.as_deref(), None);
    let object_path = api::path(rt, ns.as_deref(), Some(&name));
    let live = match session.api.get(&object_path, ACCEPT_JSON).await {
        Ok(live) => live,
        Err(e) if e.is_not_found() => {
            session.api.create(&collection, &modified).await?;
            return Ok(format!("{label} created"));
        }
        Err(e) => return Err(e),
    };
    let original = match live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
    {
        Some(text) => serde_json::from_str::<Value>(text).ok(),
        None => {
            writeln!(
                err,
                "Warning: resource {}/{name} is missing the {LAST_APPLIED} annotation which is required by apply. The missing annotation will be patched automatically.",
                rt.plural
            )?;
            None
        }
    };
    let patch = three_way_patch(original.as_ref(), &modified, &live, rt.patch_schema);
    if patch.as_object().is_some_and(Map::is_empty) {
        return Ok(format!("{label} unchanged"));
    }
    session
        .api
        .patch(&object_path, STRATEGIC_MERGE, &patch)
        .await?;
    Ok(format!("{label} configured"))
}

/// Upstream's `GetModifiedConfiguration(obj, annotate=true)`: the object with its
/// last-applied annotation set to its own compact JSON, newline terminated as kubectl's
/// encoder writes it. Upstream serialises the object with that one annotation removed but
/// the annotations map kept (`"annotations":{}` when it was the only one); the text must
/// match kubectl's byte for byte or each tool would see the other's apply as a change.
pub(crate) fn with_last_applied(mut obj: Value) -> Result<Value, CtlError> {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Err(CtlError::Usage("object has no metadata".into()));
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(a) = annotations.as_object_mut() {
        a.remove(LAST_APPLIED);
    }
    let mut text = serde_json::to_string(&obj).map_err(|e| CtlError::Usage(e.to_string()))?;
    text.push('\n');
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_applied_is_the_object_without_itself() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "annotations": {LAST_APPLIED: "stale"}}});
        let m = with_last_applied(obj).unwrap();
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert_eq!(
            text,
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{},\"name\":\"p\"}}\n"
        );
        // applying the result again yields the same annotation
        let again = with_last_applied(m.clone()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn other_annotations_are_kept_in_both_places() {
        let obj = json!({"metadata": {"name": "p", "annotations": {"team": "x"}}});
        let m = with_last_applied(obj).unwrap();
        assert_eq!(m["metadata"]["annotations"]["team"], "x");
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert!(text.contains("\"team\":\"x\""));
    }
}
