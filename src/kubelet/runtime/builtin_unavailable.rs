//! The built-in runtime's entry points on 32-bit targets, where youki's libcontainer does not
//! build: each fails with the fix, so `bramble runtime create` and friends say why instead
//! of not existing. These boards run containers with runc (the default there).

use std::path::Path;

use super::{Result, RuntimeError};

fn unavailable() -> RuntimeError {
    RuntimeError::Libcontainer(
        "the built-in runtime exists only in 64-bit builds; install runc and use --runtime runc"
            .into(),
    )
}

/// See the 64-bit `builtin::create`.
pub fn create(
    _root: &Path,
    _bundle: &Path,
    _pid_file: Option<&Path>,
    _console_socket: Option<&Path>,
    _id: &str,
) -> Result<()> {
    Err(unavailable())
}

/// See the 64-bit `builtin::start`.
pub fn start(_root: &Path, _id: &str) -> Result<()> {
    Err(unavailable())
}

/// See the 64-bit `builtin::state`.
pub fn state(_root: &Path, _id: &str) -> Result<serde_json::Value> {
    Err(unavailable())
}

/// See the 64-bit `builtin::kill`.
pub fn kill(_root: &Path, _id: &str, _signal: i32, _all: bool) -> Result<()> {
    Err(unavailable())
}

/// See the 64-bit `builtin::delete`.
pub fn delete(_root: &Path, _id: &str, _force: bool) -> Result<()> {
    Err(unavailable())
}

/// See the 64-bit `builtin::exec`.
pub fn exec(
    _root: &Path,
    _id: &str,
    _process: &Path,
    _console_socket: Option<&Path>,
) -> Result<i32> {
    Err(unavailable())
}
