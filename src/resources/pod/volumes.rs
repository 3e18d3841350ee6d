//! Pod volume rules: upstream's `ValidateVolumes`, `validateVolumeSource` and
//! `ValidateVolumeMounts` (`pkg/apis/core/validation/validation.go`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::defaults::VOLUME_SOURCES;
use crate::resources::quantity::Quantity;
use crate::resources::validation::fields::{at, list_at, str_at};
use crate::resources::validation::is_dns1123_label;
use crate::resources::FieldError;

/// Upstream `ValidateDNS1123Label` for one field.
pub fn dns1123_label_errors(value: &str, path: &str) -> Vec<FieldError> {
    is_dns1123_label(value)
        .into_iter()
        .map(|m| FieldError::invalid(path, &json!(value), &m))
        .collect()
}

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

/// Validates `spec.volumes` and returns the names of the valid ones (mounts may refer only
/// to those).
pub fn validate_volumes(volumes: &[Value], errs: &mut Vec<FieldError>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let path = format!("spec.volumes[{i}]");
        let name = str_at(vol, &["name"]);
        let mut el = validate_volume_source(vol, &path);
        if name.is_empty() {
            el.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            el.extend(dns1123_label_errors(name, &format!("{path}.name")));
        }
        if names.contains(name) {
            el.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

fn validate_volume_source(vol: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let present: Vec<&str> = VOLUME_SOURCES
        .iter()
        .copied()
        .filter(|s| at(vol, &[s]).is_some_and(|v| !v.is_null()))
        .collect();
    let Some(first) = present.first() else {
        errs.push(FieldError::required(path, "must specify a volume type"));
        return errs;
    };
    for extra in &present[1..] {
        errs.push(FieldError::forbidden(
            format!("{path}.{extra}"),
            "may not specify more than 1 volume type",
        ));
    }
    let src = &vol[*first];
    let sp = format!("{path}.{first}");
    match *first {
        "emptyDir" => {
            if let Some(limit) = src.get("sizeLimit").and_then(Value::as_str) {
                if Quantity::parse(limit).map_or(true, |q| q.is_negative()) {
                    errs.push(FieldError::forbidden(
                        format!("{sp}.sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
        }
        "hostPath" => {
            let p = str_at(src, &["path"]);
            if p.is_empty() {
                errs.push(FieldError::required(format!("{sp}.path"), ""));
            } else if p.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(
                    format!("{sp}.path"),
                    &json!(p),
                    "must not contain '..'",
                ));
            }
            let t = str_at(src, &["type"]);
            if !HOST_PATH_TYPES.contains(&t) {
                errs.push(FieldError::not_supported(
                    format!("{sp}.type"),
                    &json!(t),
                    HOST_PATH_TYPES,
                ));
            }
        }
        "gitRepo" => {
            // Upstream validateGitRepoVolumeSource: a repository, and a directory that stays
            // inside the volume (validateLocalDescendingPath).
            required_name(src, "repository", &sp, &mut errs);
            let d = str_at(src, &["directory"]);
            if d.starts_with('/') {
                errs.push(FieldError::invalid(
                    format!("{sp}.directory"),
                    &json!(d),
                    "must be a relative path",
                ));
            }
            if d.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(
                    format!("{sp}.directory"),
                    &json!(d),
                    "must not contain '..'",
                ));
            }
        }
        "configMap" => required_name(src, "name", &sp, &mut errs),
        "secret" => required_name(src, "secretName", &sp, &mut errs),
        "persistentVolumeClaim" => required_name(src, "claimName", &sp, &mut errs),
        _ => {}
    }
    errs
}

fn required_name(src: &Value, key: &str, sp: &str, errs: &mut Vec<FieldError>) {
    if str_at(src, &[key]).is_empty() {
        errs.push(FieldError::required(format!("{sp}.{key}"), ""));
    }
}

/// Upstream `ValidateVolumeMounts` for one container.
pub fn validate_volume_mounts(
    container: &Value,
    volumes: &BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, m) in list_at(container, &["volumeMounts"]).iter().enumerate() {
        let mp = format!("{path}[{i}]");
        let name = str_at(m, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(format!("{mp}.name"), &json!(name)));
        }
        let mount_path = str_at(m, &["mountPath"]);
        if mount_path.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                format!("{mp}.mountPath"),
                &json!(mount_path),
                "must be unique",
            ));
        }
        let sub = str_at(m, &["subPath"]);
        if !sub.is_empty() {
            // Upstream `validateLocalDescendingPath`.
            if sub.starts_with('/') {
                errs.push(FieldError::invalid(
                    format!("{path}.subPath"),
                    &json!(sub),
                    "must be a relative path",
                ));
            }
            if sub.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(
                    format!("{path}.subPath"),
                    &json!(sub),
                    "must not contain '..'",
                ));
            }
        }
    }
    errs
}
