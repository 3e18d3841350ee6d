//! Failures of `bramble ctl`, each rendered as the single line kubectl would print: client-side
//! problems as `error: ...`, server answers as `Error from server (Reason): message`
//! (kubectl's `cmdutil.StandardErrorMessage`).

use std::path::PathBuf;

use crate::client::http::HttpError;

/// Why a `bramble ctl` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// No kubeconfig at the path that was tried.
    #[error(
        "no kubeconfig at {}: pass --kubeconfig or set KUBECONFIG; `bramble server` writes one to DATA_DIR/admin.kubeconfig (copy it to ~/.kube/config)",
        path.display()
    )]
    NoKubeconfig {
        /// The path tried.
        path: PathBuf,
    },
    /// The kubeconfig exists but cannot be used.
    #[error("kubeconfig {}: {message}", path.display())]
    BadKubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Talking to the server failed below HTTP (connection, TLS).
    #[error("{0}")]
    Transport(#[from] HttpError),
    /// The server answered with a `Status` failure.
    #[error("Error from server{}: {message}", reason_suffix(reason))]
    Server {
        /// The Status `reason`, e.g. `NotFound`.
        reason: String,
        /// The Status `message`.
        message: String,
        /// The HTTP status code.
        code: u16,
    },
    /// A usage or input problem the user can fix (unknown kind, malformed file).
    #[error("{0}")]
    Usage(String),
    /// Writing to stdout or stderr failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// Some items failed and their errors were already printed.
    #[error("some operations failed")]
    AlreadyReported,
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

impl CtlError {
    /// The line to print on stderr (`None` when it was printed already). Server errors stand
    /// alone as kubectl prints them; everything else gets kubectl's `error: ` prefix. Newlines
    /// are folded so the message stays one line.
    pub fn line(&self) -> Option<String> {
        let text = match self {
            CtlError::AlreadyReported => return None,
            CtlError::Server { .. } => self.to_string(),
            other => format!("error: {other}"),
        };
        Some(
            text.split('\n')
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// Whether this is the server's `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CtlError::Server { code: 404, reason, .. } if reason == "NotFound")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_like_kubectl() {
        let e = CtlError::Server {
            reason: "NotFound".into(),
            message: "pods \"x\" not found".into(),
            code: 404,
        };
        assert_eq!(
            e.line().unwrap(),
            "Error from server (NotFound): pods \"x\" not found"
        );
        assert!(e.is_not_found());
    }

    #[test]
    fn client_errors_are_one_prefixed_line() {
        let e = CtlError::Usage("bad\ninput".into());
        assert_eq!(e.line().unwrap(), "error: bad; input");
        assert!(CtlError::AlreadyReported.line().is_none());
    }
}
