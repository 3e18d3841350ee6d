//! `bramble ctl get KIND [NAME...]`: asks the server for a `meta.k8s.io/v1` Table and prints
//! it as kubectl does, or fetches the objects for `-o yaml|json|name`. Names that fail are
//! reported one line each and the rest still printed, as kubectl's `get` does.

use std::io::Write;

use clap::Args;
use serde_json::Value;

use super::api::{self, ACCEPT_JSON, ACCEPT_TABLE};
use super::error::CtlError;
use super::kinds::{self, kind_label};
use super::output::{self, OutputFormat, TableRows};
use super::Session;
use crate::resources::ResourceType;

/// Arguments of `bramble ctl get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// `KIND [NAME...]` or `KIND/NAME...` (plural, singular, short name or `kind.group`).
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Label selector, e.g. `app=web,tier!=cache`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector, e.g. `spec.nodeName=pi-1`.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Output format: yaml, json, wide or name.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

/// Runs `get`.
pub(crate) async fn run(
    session: &Session,
    args: GetArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    let targets = kinds::targets(&args.resources)?;
    let named = targets.groups.iter().any(|(_, names)| !names.is_empty());
    if named && (args.selector.is_some() || args.field_selector.is_some()) {
        return Err(CtlError::Usage(
            "name cannot be provided when a selector is specified".into(),
        ));
    }
    if named && session.all_namespaces {
        return Err(CtlError::Usage(
            "a resource cannot be retrieved by name across all namespaces".into(),
        ));
    }
    let query = list_query(args.selector.as_deref(), args.field_selector.as_deref());
    let scope = (!session.all_namespaces).then_some(session.namespace.as_str());
    let mut failed = false;
    let mut report = |e: CtlError, err: &mut dyn Write| -> Result<(), CtlError> {
        failed = true;
        if let Some(line) = e.line() {
            writeln!(err, "{line}")?;
        }
        Ok(())
    };
    let all_namespaced =
        !session.all_namespaces && targets.groups.iter().all(|(rt, _)| rt.namespaced);
    let mut written = false;
    match args.output {
        None | Some(OutputFormat::Wide) => {
            let wide = args.output == Some(OutputFormat::Wide);
            let with_kind = targets.groups.len() > 1;
            for (rt, names) in &targets.groups {
                let mut rows = TableRows::default();
                if names.is_empty() {
                    let path = format!("{}{query}", api::path(rt, scope, None));
                    match session.api.get(&path, ACCEPT_TABLE).await {
                        Ok(t) => rows.extend(&t),
                        Err(e) => report(e, err)?,
                    }
                } else {
                    for name in names {
                        let path = api::path(rt, scope, Some(name));
                        match session.api.get(&path, ACCEPT_TABLE).await {
                            Ok(t) => rows.extend(&t),
                            Err(e) => report(e, err)?,
                        }
                    }
                }
                if with_kind {
                    prefix_names(&mut rows, rt);
                }
                let text = output::table(&rows, wide, session.all_namespaces && rt.namespaced);
                if !text.is_empty() {
                    if written {
                        writeln!(out)?;
                    }
                    out.write_all(text.as_bytes())?;
                    written = true;
                }
            }
        }
        Some(format) => {
            let mut objects = Vec::new();
            for (rt, names) in &targets.groups {
                if names.is_empty() {
                    let path = format!("{}{query}", api::path(rt, scope, None));
                    match session.api.get(&path, ACCEPT_JSON).await {
                        Ok(list) => objects.extend(items(rt, list)),
                        Err(e) => report(e, err)?,
                    }
                } else {
                    for name in names {
                        match session
                            .api
                            .get(&api::path(rt, scope, Some(name)), ACCEPT_JSON)
                            .await
                        {
                            Ok(obj) => objects.push(obj),
                            Err(e) => report(e, err)?,
                        }
                    }
                }
            }
            written = !objects.is_empty();
            let single = targets.groups.len() == 1 && targets.groups[0].1.len() == 1;
            let text = match format {
                OutputFormat::Name => objects.iter().map(name_line).collect(),
                OutputFormat::Json => output::json_text(&output::document(objects, single))?,
                _ => output::yaml(&output::document(objects, single))?,
            };
            out.write_all(text.as_bytes())?;
            if format != OutputFormat::Name {
                written = true;
            }
        }
    }
    if failed {
        return Err(CtlError::AlreadyReported);
    }
    if !written {
        let ns = all_namespaced.then_some(session.namespace.as_str());
        writeln!(err, "{}", output::no_resources(ns))?;
    }
    Ok(())
}

/// `?labelSelector=..&fieldSelector=..` (empty when neither is set).
fn list_query(labels: Option<&str>, fields: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(l) = labels {
        parts.push(format!("labelSelector={}", api::encode(l)));
    }
    if let Some(f) = fields {
        parts.push(format!("fieldSelector={}", api::encode(f)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// A list's items with `apiVersion` and `kind` filled in (list items omit them on the wire;
/// kubectl's decoder restores them before printing).
fn items(rt: &ResourceType, list: Value) -> Vec<Value> {
    let Some(Value::Array(items)) = list.get("items").cloned() else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.entry("apiVersion")
                    .or_insert_with(|| Value::String(rt.api_version()));
                m.entry("kind")
                    .or_insert_with(|| Value::String(rt.kind.into()));
            }
            o
        })
        .collect()
}

/// `-o name`: `kind[.group]/name` per object.
fn name_line(obj: &Value) -> String {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let kind = text("/kind").to_ascii_lowercase();
    let group = text("/apiVersion")
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or("");
    let name = text("/metadata/name");
    if group.is_empty() {
        format!("{kind}/{name}\n")
    } else {
        format!("{kind}.{group}/{name}\n")
    }
}

/// With several kinds kubectl shows `kind/name` in the name column (`WithKind`).
fn prefix_names(rows: &mut TableRows, rt: &ResourceType) {
    let Some(col) = rows
        .columns
        .iter()
        .position(|c| c.get("format").and_then(Value::as_str) == Some("name"))
    else {
        return;
    };
    let label = kind_label(rt);
    for row in &mut rows.rows {
        if let Some(cell) = row.get_mut("cells").and_then(|c| c.get_mut(col)) {
            let name = cell.as_str().unwrap_or("").to_string();
            *cell = Value::String(format!("{label}/{name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_are_encoded_into_the_query() {
        assert_eq!(list_query(None, None), "");
        assert_eq!(
            list_query(Some("app=web,tier!=cache"), Some("spec.nodeName=pi 1")),
            "?labelSelector=app%3Dweb%2Ctier%21%3Dcache&fieldSelector=spec.nodeName%3Dpi%201"
        );
    }

    #[test]
    fn name_output_carries_the_group() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
        assert_eq!(name_line(&pod), "pod/x\n");
        let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local"}});
        assert_eq!(name_line(&sc), "storageclass.storage.k8s.io/local\n");
    }

    #[test]
    fn list_items_get_their_type_back() {
        let list = json!({"items": [{"metadata": {"name": "a"}}]});
        let got = items(kinds::resolve("po").unwrap(), list);
        assert_eq!(got[0]["kind"], "Pod");
        assert_eq!(got[0]["apiVersion"], "v1");
    }
}
