//! Runs the e2fsprogs/util-linux tools the local-disk provisioner drives (`mkfs.ext4`,
//! `resize2fs`, `losetup`, `mount`, `blkid`), turning a failure into its stderr.

use std::process::Command;

use super::StorageError;

/// Runs `tool args...`; returns its stdout, or its stderr as the error.
pub(crate) fn run(tool: &'static str, args: &[&str]) -> Result<String, StorageError> {
    run_accepting(tool, args, &[0])
}

/// [`run`], treating the exit codes in `ok` as success (`e2fsck` exits 1 after fixing).
pub(crate) fn run_accepting(
    tool: &'static str,
    args: &[&str],
    ok: &[i32],
) -> Result<String, StorageError> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| StorageError::Tool {
            tool,
            message: format!("cannot run {tool}: {e} (is it installed?)"),
        })?;
    if !out.status.code().is_some_and(|c| ok.contains(&c)) {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(StorageError::Tool {
            tool,
            message: if stderr.is_empty() {
                format!("exit status {}", out.status)
            } else {
                stderr
            },
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
