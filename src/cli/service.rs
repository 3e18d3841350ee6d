//! Where an installed Bramble lives on a board, the text of its systemd unit and settings
//! file, and talking to systemd. Shared by `bramble install` and `bramble uninstall`.
//!
//! Settings go in `/etc/bramble/bramble.env`, read by the unit's `EnvironmentFile=`: every
//! `bramble server` and `bramble agent` flag already has a `BRAMBLE_*` variable, so neither
//! needs a config file parser and their `--help` documents every key. The unit follows k3s':
//! `KillMode=process`, because containers' supervisors must survive a restart of the server,
//! and `Delegate=yes` with unlimited tasks and files, because the server manages cgroups
//! and runs many processes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The systemd unit name.
pub const UNIT: &str = "bramble.service";

/// Default data directory, as `bramble server` has it.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/bramble";

/// Default node bridge, as `bramble server` has it.
pub const DEFAULT_BRIDGE: &str = "bramble0";

/// The installed files and directories, under `root` (`/` on a board; a scratch directory
/// when preparing an image or testing).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// Whether this is the running system (so systemd may be asked to act).
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `path` (absolute, as the board sees it) under the root.
    pub fn host(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// The systemd unit.
    pub fn unit(&self) -> PathBuf {
        self.host("/etc/systemd/system").join(UNIT)
    }

    /// The configuration directory (settings, `registries.yaml`).
    pub fn config_dir(&self) -> PathBuf {
        self.host("/etc/bramble")
    }

    /// The settings the unit reads.
    pub fn env_file(&self) -> PathBuf {
        self.config_dir().join("bramble.env")
    }

    /// The installed binary.
    pub fn binary(&self) -> PathBuf {
        self.host(BINARY)
    }

    /// Pod namespaces and sandboxes (tmpfs on a board).
    pub fn run_dir(&self) -> PathBuf {
        self.host("/run/bramble")
    }
}

/// Where the binary is installed, as the board sees it.
pub const BINARY: &str = "/usr/local/bin/bramble";

/// The unit running `bramble <role>` (`server` or `agent`) with the settings in `env_file`.
pub fn unit_text(binary: &str, role: &str, env_file: &str) -> String {
    format!(
        "[Unit]\n\
         Description=Bramble: a Kubernetes-compatible cluster on small boards\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=exec\n\
         EnvironmentFile=-{env_file}\n\
         ExecStart={binary} {role}\n\
         # containers' supervisors outlive the server; only the server is stopped\n\
         KillMode=process\n\
         Delegate=yes\n\
         LimitNOFILE=1048576\n\
         LimitNPROC=infinity\n\
         LimitCORE=infinity\n\
         TasksMax=infinity\n\
         TimeoutStartSec=0\n\
         Restart=always\n\
         RestartSec=5s\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// The settings file: `KEY=value` lines, each the variable of a `bramble server` or
/// `bramble agent` flag.
pub fn env_text(settings: &[(&str, String)]) -> String {
    let mut text = String::from(
        "# Settings of Bramble, one BRAMBLE_* variable per flag (see `bramble server --help`\n# or `bramble agent --help`).\n",
    );
    for (key, value) in settings {
        text.push_str(&format!("{key}={value}\n"));
    }
    text
}

/// Reads `KEY=value` lines as systemd's `EnvironmentFile=` does for the simple cases:
/// comments, blank lines and one level of quotes.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// Whether systemd is the running init: the test `sd_booted(3)` makes.
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Runs `systemctl args`; the error is one line with systemctl's own message.
pub fn systemctl(args: &[&str]) -> Result<(), String> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "systemctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_placed_under_the_root() {
        let l = Layout::new("/tmp/img");
        assert_eq!(
            l.unit(),
            PathBuf::from("/tmp/img/etc/systemd/system/bramble.service")
        );
        assert_eq!(
            l.env_file(),
            PathBuf::from("/tmp/img/etc/bramble/bramble.env")
        );
        assert_eq!(l.binary(), PathBuf::from("/tmp/img/usr/local/bin/bramble"));
        assert!(!l.is_live());
        assert!(Layout::new("/").is_live());
        assert_eq!(Layout::new("/").run_dir(), PathBuf::from("/run/bramble"));
    }

    #[test]
    fn unit_runs_the_server_with_the_settings_file_and_spares_containers() {
        let text = unit_text(BINARY, "server", "/etc/bramble/bramble.env");
        assert!(text.contains("ExecStart=/usr/local/bin/bramble server\n"));
        let agent = unit_text(BINARY, "agent", "/etc/bramble/bramble.env");
        assert!(agent.contains("ExecStart=/usr/local/bin/bramble agent\n"));
        assert!(text.contains("EnvironmentFile=-/etc/bramble/bramble.env\n"));
        assert!(text.contains("KillMode=process\n"));
        assert!(text.contains("WantedBy=multi-user.target\n"));
    }

    #[test]
    fn settings_round_trip_and_quotes_are_removed() {
        let text = env_text(&[
            ("BRAMBLE_DATA_DIR", "/srv/bramble".into()),
            ("BRAMBLE_BRIDGE", "br1".into()),
        ]);
        let parsed = parse_env(&format!("{text}\n; note\nBRAMBLE_NODE_NAME=\"pi 1\"\n"));
        assert_eq!(
            parsed,
            vec![
                ("BRAMBLE_DATA_DIR".into(), "/srv/bramble".into()),
                ("BRAMBLE_BRIDGE".into(), "br1".into()),
                ("BRAMBLE_NODE_NAME".into(), "pi 1".into()),
            ]
        );
    }
}
