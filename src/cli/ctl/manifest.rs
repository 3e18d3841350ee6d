//! Reading `-f` inputs as kubectl's resource builder does: a file, a directory (its `.yaml`,
//! `.yml` and `.json` files in name order) or `-` for stdin; YAML streams with `---`
//! separated documents or JSON; `kind: List` expanded into its items; empty documents
//! skipped. Each object keeps the source it came from for error messages.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::error::CtlError;

/// One object read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    /// The object, as JSON.
    pub object: Value,
    /// Where it came from (`STDIN` or the file path), as kubectl names it.
    pub source: String,
}

/// Reads every object named by `-f` arguments, in order.
pub(crate) fn read_all(files: &[PathBuf]) -> Result<Vec<Manifest>, CtlError> {
    if files.is_empty() {
        return Err(CtlError::Usage("must specify one of -f and -k".into()));
    }
    let mut out = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CtlError::Usage(format!("reading STDIN: {e}")))?;
            out.extend(parse(&text, "STDIN")?);
        } else if f.is_dir() {
            for file in manifest_files(f)? {
                out.extend(read_file(&file)?);
            }
        } else {
            out.extend(read_file(f)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<Manifest>, CtlError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CtlError::Usage(format!("the path \"{source}\" does not exist"))
        }
        _ => CtlError::Usage(format!("reading {source}: {e}")),
    })?;
    parse(&text, &source)
}

/// The manifest files of a directory, sorted by name (not recursive, as `-f DIR`).
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, CtlError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CtlError::Usage(format!("reading {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Parses one input's text into objects.
pub(crate) fn parse(text: &str, source: &str) -> Result<Vec<Manifest>, CtlError> {
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        // A JSON stream: one or more objects back to back.
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| parse_error(source, &e.to_string()))?
    } else {
        let mut docs = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let v = Value::deserialize(doc).map_err(|e| parse_error(source, &e.to_string()))?;
            docs.push(v);
        }
        docs
    };
    let mut out = Vec::new();
    for doc in docs {
        expand(doc, source, &mut out)?;
    }
    Ok(out)
}

/// Skips empty documents, expands `List`s, checks that each object names its type.
fn expand(doc: Value, source: &str, out: &mut Vec<Manifest>) -> Result<(), CtlError> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(map) if map.is_empty() => Ok(()),
        Value::Object(map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
            let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
                if let Some(Value::Array(items)) = map.get("items") {
                    for item in items.clone() {
                        expand(item, source, out)?;
                    }
                }
                return Ok(());
            }
            let mut missing = Vec::new();
            if api_version.is_empty() {
                missing.push("apiVersion not set");
            }
            if kind.is_empty() {
                missing.push("kind not set");
            }
            if !missing.is_empty() {
                return Err(CtlError::Usage(format!(
                    "error validating \"{source}\": error validating data: [{}]",
                    missing.join(", ")
                )));
            }
            out.push(Manifest {
                object: Value::Object(map),
                source: source.to_string(),
            });
            Ok(())
        }
        other => Err(parse_error(
            source,
            &format!("expected an object, found {}", json_type(&other)),
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

fn parse_error(source: &str, why: &str) -> CtlError {
    CtlError::Usage(format!("error parsing {source}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects(text: &str) -> Vec<Value> {
        parse(text, "t.yaml")
            .unwrap()
            .into_iter()
            .map(|m| m.object)
            .collect()
    }

    #[test]
    fn yaml_streams_split_on_document_markers_and_skip_empty_ones() {
        let text = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: b\n";
        let objs = objects(text);
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["metadata"]["name"], "a");
        assert_eq!(objs[1]["kind"], "Node");
    }

    #[test]
    fn json_and_lists_are_expanded() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}},
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}]}"#;
        let objs = objects(text);
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1]["metadata"]["name"], "b");
        let yaml_list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n";
        assert_eq!(objects(yaml_list)[0]["kind"], "ConfigMap");
    }

    #[test]
    fn yaml_numbers_and_quoted_strings_keep_their_types() {
        let objs = objects("apiVersion: v1\nkind: Pod\nspec: {a: 1, b: \"1\", c: true}\n");
        assert_eq!(objs[0]["spec"], json!({"a": 1, "b": "1", "c": true}));
    }

    #[test]
    fn malformed_input_is_one_line_naming_the_source() {
        let e = parse(
            "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
            "pod.yaml",
        )
        .unwrap_err();
        let line = e.line().unwrap();
        assert!(
            line.starts_with("error: error parsing pod.yaml: "),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let e = parse("metadata: {name: x}\n", "pod.yaml").unwrap_err();
        assert_eq!(
            e.line().unwrap(),
            "error: error validating \"pod.yaml\": error validating data: [apiVersion not set, kind not set]"
        );
        assert!(parse("- a\n- b\n", "x").is_err());
    }
}
