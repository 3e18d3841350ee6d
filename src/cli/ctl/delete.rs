//! `bramble ctl delete KIND NAME... | -f FILE`: deletes objects with background propagation
//! (kubectl's default) and prints `kind "name" deleted` for each, as kubectl does. Failures
//! are reported one line each; the remaining objects are still deleted.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::api;
use super::apply::locate;
use super::error::CtlError;
use super::kinds::{self, kind_label};
use super::manifest;
use super::Session;
use crate::resources::ResourceType;

/// Arguments of `bramble ctl delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// `KIND NAME...` or `KIND/NAME...`.
    pub resources: Vec<String>,
    /// Files, directories or `-` (stdin) naming the objects to delete.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
}

/// Runs `delete`.
pub(crate) async fn run(
    session: &Session,
    args: DeleteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    let mut work: Vec<(&'static ResourceType, Option<String>, String)> = Vec::new();
    match (args.files.is_empty(), args.resources.is_empty()) {
        (false, false) => {
            return Err(CtlError::Usage(
                "when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well".into(),
            ))
        }
        (true, true) => {
            return Err(CtlError::Usage(
                "You must provide one or more resources by argument or filename.".into(),
            ))
        }
        (false, true) => {
            for mut m in manifest::read_all(&args.files)? {
                work.push(locate(session, &mut m)?);
            }
        }
        (true, false) => {
            for (rt, names) in kinds::targets(&args.resources)?.groups {
                if names.is_empty() {
                    return Err(CtlError::Usage(format!(
                        "resource(s) were provided, but no name was specified: `bramble ctl delete {} NAME`",
                        rt.singular
                    )));
                }
                let ns = rt.namespaced.then(|| session.namespace.clone());
                work.extend(names.into_iter().map(|n| (rt, ns.clone(), n)));
            }
        }
    }
    let mut failed = false;
    for (rt, ns, name) in work {
        match session
            .api
            .delete(&api::path(rt, ns.as_deref(), Some(&name)))
            .await
        {
            Ok(_) => writeln!(out, "{}", deleted_line(rt, &name))?,
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

/// kubectl's `printDeletion` line: `pod "x" deleted`.
fn deleted_line(rt: &ResourceType, name: &str) -> String {
    format!("{} \"{name}\" deleted", kind_label(rt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_lines_read_like_kubectl() {
        assert_eq!(
            deleted_line(kinds::resolve("po").unwrap(), "x"),
            "pod \"x\" deleted"
        );
        assert_eq!(
            deleted_line(kinds::resolve("sc").unwrap(), "local"),
            "storageclass.storage.k8s.io \"local\" deleted"
        );
    }
}
