//! `bramble install`: makes this board run `bramble server` at boot under systemd, or, with
//! `--server` and the join token (`--token-file`, `BRAMBLE_TOKEN` or `--token`), `bramble
//! agent` joining that server.
//!
//! Writes the unit and its settings file, creates the data directory, copies the running
//! binary to `/usr/local/bin/bramble` and enables the unit (the `multi-user.target.wants`
//! link `systemctl enable` makes, so an image prepared with `--root` boots into Bramble).
//! When systemd is the running init it also reloads it and starts the service. A join token
//! is a secret, so an agent's settings file is readable by root only.

use std::io::Write;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use super::service::{self, Layout};
use crate::pki::join_token::JoinToken;

/// Arguments of `bramble install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Install into this directory instead of the running system (an SD card image being
    /// prepared, or a test); systemd is then left alone.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// The server's data directory (`--data-dir` of `bramble server`).
    #[arg(long, default_value = service::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address and port the API server listens on (default: the server's, 0.0.0.0:6443).
    #[arg(long, conflicts_with = "server")]
    pub listen: Option<std::net::SocketAddr>,
    /// This board's node name (default: its hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Name of the node bridge pods attach to.
    #[arg(long, default_value = service::DEFAULT_BRIDGE)]
    pub bridge: String,
    /// Join the cluster served at this URL (e.g. https://pi-1:6443) instead of running a
    /// server; needs the join token (--token-file, BRAMBLE_TOKEN or --token).
    #[arg(long)]
    pub server: Option<String>,
    /// The server's join token (`sudo cat /var/lib/bramble/join-token` on the server).
    /// A command line is visible to every user of the board: prefer --token-file or the
    /// BRAMBLE_TOKEN environment variable.
    #[arg(
        long,
        env = "BRAMBLE_TOKEN",
        hide_env_values = true,
        requires = "server",
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// A file holding the server's join token.
    #[arg(long, env = "BRAMBLE_TOKEN_FILE", requires = "server")]
    pub token_file: Option<PathBuf>,
}

/// The join token from --token / BRAMBLE_TOKEN or --token-file, checked.
fn join_token(args: &InstallArgs) -> anyhow::Result<Option<String>> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("--token-file {}", path.display()))?
            .trim()
            .to_string(),
        (None, None) if args.server.is_some() => bail!(
            "--server needs the join token: pass --token-file FILE or set BRAMBLE_TOKEN \
             (`sudo cat /var/lib/bramble/join-token` on the server)"
        ),
        (None, None) => return Ok(None),
    };
    let flag = if args.token.is_some() {
        "--token"
    } else {
        "--token-file"
    };
    JoinToken::parse(&token).context(flag)?;
    Ok(Some(token))
}

/// Installs and (under systemd) starts the service.
pub fn run(args: InstallArgs) -> anyhow::Result<()> {
    if let Some(server) = &args.server {
        if !server.starts_with("https://") {
            bail!("--server {server:?}: give the server's URL, e.g. https://pi-1:6443");
        }
    }
    let token = join_token(&args)?;
    let role = if args.server.is_some() {
        "agent"
    } else {
        "server"
    };
    let layout = Layout::new(&args.root);
    if layout.is_live() && !nix::unistd::geteuid().is_root() {
        bail!("bramble install changes /etc and /usr/local: run it as root (sudo bramble install)");
    }
    if !args.data_dir.is_absolute() {
        bail!(
            "--data-dir must be an absolute path, got {}",
            args.data_dir.display()
        );
    }
    if args.bridge.is_empty() || args.bridge.len() > 15 {
        bail!(
            "--bridge must be 1 to 15 characters (a Linux interface name), got {:?}",
            args.bridge
        );
    }
    let mut out = std::io::stdout().lock();

    let data_dir = layout.host(&args.data_dir);
    create_dir(&data_dir, 0o700)?;
    writeln!(out, "created {}", data_dir.display())?;
    create_dir(&layout.config_dir(), 0o755)?;

    let binary = layout.binary();
    if copy_self(&binary)? {
        writeln!(out, "installed {}", binary.display())?;
    }

    let mut settings = vec![
        ("BRAMBLE_DATA_DIR", args.data_dir.display().to_string()),
        ("BRAMBLE_BRIDGE", args.bridge.clone()),
    ];
    if let Some(listen) = &args.listen {
        settings.push(("BRAMBLE_LISTEN", listen.to_string()));
    }
    if let Some(name) = &args.node_name {
        settings.push(("BRAMBLE_NODE_NAME", name.clone()));
    }
    // The token goes into the root-only settings file and never onto a command line: the
    // unit's ExecStart names no secret.
    if let (Some(server), Some(token)) = (&args.server, &token) {
        settings.push(("BRAMBLE_SERVER", server.trim_end_matches('/').to_string()));
        settings.push(("BRAMBLE_TOKEN", token.clone()));
    }
    let env_file = layout.env_file();
    let env_mode = if token.is_some() { 0o600 } else { 0o644 };
    write_file(&env_file, &service::env_text(&settings), env_mode)?;
    writeln!(out, "wrote {}", env_file.display())?;

    let unit = layout.unit();
    let env_on_board = Path::new("/etc/bramble/bramble.env");
    let text = service::unit_text(service::BINARY, role, &env_on_board.display().to_string());
    write_file(&unit, &text, 0o644)?;
    writeln!(out, "wrote {}", unit.display())?;
    enable_link(&layout)?;
    writeln!(out, "enabled {} (starts at boot)", service::UNIT)?;

    let kubeconfig = args.data_dir.join("admin.kubeconfig");
    if !layout.is_live() {
        writeln!(
            out,
            "installed under {}; systemd there starts it at boot",
            args.root.display()
        )?;
    } else if service::systemd_running() {
        service::systemctl(&["daemon-reload"]).map_err(anyhow::Error::msg)?;
        service::systemctl(&["restart", service::UNIT]).map_err(anyhow::Error::msg)?;
        if role == "agent" {
            writeln!(
                out,
                "started {}; this board appears in `kubectl get nodes` once it has joined",
                service::UNIT
            )?;
        } else {
            writeln!(
                out,
                "started {}; the admin kubeconfig appears at {}",
                service::UNIT,
                kubeconfig.display()
            )?;
        }
    } else {
        writeln!(
            out,
            "systemd is not running here (no /run/systemd/system): not started; it starts at the next boot under systemd, or run `{} {role}` now",
            service::BINARY
        )?;
    }
    Ok(())
}

fn create_dir(dir: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}

/// Writes `path` through a temporary file and a rename, so a unit is never half-written.
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&tmp);
    // Created with its final mode: a settings file holding a join token is never readable
    // by others, not even for a moment.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Copies the running binary to `target` unless it already is that file; `Ok(true)` when
/// copied. The rename replaces a binary the old service may still be running.
fn copy_self(target: &Path) -> anyhow::Result<bool> {
    let me = std::env::current_exe().context("locating the running bramble binary")?;
    if let (Ok(a), Ok(b)) = (me.canonicalize(), target.canonicalize()) {
        if a == b {
            return Ok(false);
        }
    }
    let dir = target.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(".bramble.tmp");
    std::fs::copy(&me, &tmp)
        .with_context(|| format!("copying {} to {}", me.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, target).with_context(|| format!("installing {}", target.display()))?;
    Ok(true)
}

/// What `systemctl enable` does for `WantedBy=multi-user.target`.
fn enable_link(layout: &Layout) -> anyhow::Result<()> {
    let link = wants_link(layout);
    let dir = link.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(&link);
    let target = Path::new("/etc/systemd/system").join(service::UNIT);
    symlink(&target, &link).with_context(|| format!("creating {}", link.display()))
}

/// The link that enables the unit.
pub fn wants_link(layout: &Layout) -> PathBuf {
    layout
        .host("/etc/systemd/system/multi-user.target.wants")
        .join(service::UNIT)
}
