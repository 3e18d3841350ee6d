//! `bramble ctl token create|list|delete`: join tokens for new boards, as kubeadm's
//! `kubeadm token` manages bootstrap tokens: each is a Secret
//! `kube-system/bootstrap-token-<id>` (see `resources/bootstrap_token.rs`), so deleting one
//! revokes it and one with a TTL stops working when it expires. `create` prints the whole
//! join token (`<id>.<secret>::sha256:<CA key hash>`) that `bramble agent --token` takes.

use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::api::{path, ACCEPT_JSON};
use super::error::CtlError;
use super::tabwriter::{align, TABLE};
use super::Session;
use crate::pki::join_token::ca_hash;
use crate::resources::bootstrap_token::{
    self, secret_name, split_bearer, BootstrapToken, AUTHENTICATION_USAGE, DEFAULT_NODE_GROUP,
    SIGNING_USAGE,
};
use crate::resources::secret;

/// Arguments of `bramble ctl token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The verbs of `bramble ctl token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a join token and print it.
    Create(CreateArgs),
    /// List join tokens.
    List,
    /// Delete (revoke) join tokens by id or whole token.
    Delete(DeleteArgs),
}

/// Arguments of `bramble ctl token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token to create (`[a-z0-9]{6}.[a-z0-9]{16}`); random when not given.
    pub token: Option<String>,
    /// How long the token works (`0` for ever), as kubeadm's `--ttl`.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// A note shown by `list`.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Usages: `authentication` (joining) and `signing`.
    #[arg(long, value_delimiter = ',', default_values_t = [SIGNING_USAGE.to_string(), AUTHENTICATION_USAGE.to_string()])]
    pub usages: Vec<String>,
    /// Extra groups the token's user is in (each `system:bootstrappers:...`).
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_NODE_GROUP.to_string()])]
    pub groups: Vec<String>,
}

/// Arguments of `bramble ctl token delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Token ids (`abcdef`) or whole tokens.
    #[arg(required = true)]
    pub tokens: Vec<String>,
}

/// Runs `bramble ctl token ...`; `ca_pem` is the cluster CA of the kubeconfig, whose key
/// hash new join tokens carry.
pub async fn run(
    session: &Session,
    ca_pem: &str,
    args: TokenArgs,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    match args.command {
        TokenCommand::Create(a) => create(session, ca_pem, a, out).await,
        TokenCommand::List => list(session, out).await,
        TokenCommand::Delete(a) => delete(session, a, out).await,
    }
}

fn secrets_path(name: Option<&str>) -> String {
    path(&secret::RESOURCE, Some(bootstrap_token::NAMESPACE), name)
}

async fn create(
    session: &Session,
    ca_pem: &str,
    args: CreateArgs,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    let hash = ca_hash(ca_pem).map_err(|e| {
        CtlError::Usage(format!(
            "the kubeconfig names no cluster CA to pin join tokens to ({e}); use the admin kubeconfig the server wrote"
        ))
    })?;
    let bearer = match args.token {
        Some(t) => t,
        None => crate::pki::tokens::generate_token(),
    };
    let Some((id, secret_part)) = split_bearer(&bearer) else {
        return Err(CtlError::Usage(format!(
            "token {bearer:?} must look like abcdef.0123456789abcdef ([a-z0-9], 6 then 16 characters)"
        )));
    };
    let ttl = if args.ttl.trim() == "0" {
        None
    } else {
        let d = super::super::duration::parse(&args.ttl).map_err(CtlError::Usage)?;
        Some(
            TimeDelta::from_std(d)
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d))
                .ok_or_else(|| CtlError::Usage(format!("--ttl {} is too long", args.ttl)))?,
        )
    };
    for usage in &args.usages {
        if usage != AUTHENTICATION_USAGE && usage != SIGNING_USAGE {
            return Err(CtlError::Usage(format!(
                "unknown usage {usage:?}: use {AUTHENTICATION_USAGE} or {SIGNING_USAGE}"
            )));
        }
    }
    let token = BootstrapToken {
        id: id.into(),
        secret: secret_part.into(),
        expiration: ttl,
        usages: args.usages,
        extra_groups: args.groups.into_iter().filter(|g| !g.is_empty()).collect(),
        description: args.description,
    };
    session
        .api
        .create(&secrets_path(None), &token.to_secret())
        .await?;
    writeln!(out, "{}::{hash}", token.bearer())?;
    Ok(())
}

/// kubeadm's TTL column: the time left, `<forever>` or `<invalid>` once expired.
fn ttl_cell(expiration: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match expiration {
        None => "<forever>".into(),
        Some(at) if at <= now => "<invalid>".into(),
        Some(at) => short_human_duration(at - now),
    }
}

/// apimachinery's `ShortHumanDuration`, which kubeadm prints TTLs with: one unit, rounded
/// down (`59s`, `9m`, `23h`, `6d`, `2y`).
fn short_human_duration(d: TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        "<invalid>".into()
    } else if secs < 0 {
        "0s".into()
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        format!("{}h", secs / 3600)
    } else if secs < 86_400 * 365 {
        format!("{}d", secs / 86_400)
    } else {
        format!("{}y", secs / (86_400 * 365))
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

async fn list(session: &Session, out: &mut dyn Write) -> Result<(), CtlError> {
    let listed = session.api.get(&secrets_path(None), ACCEPT_JSON).await?;
    let now = Utc::now();
    let mut text = String::from("TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS\n");
    let items = listed.get("items").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        // Other Secrets and malformed tokens are not listed, as kubeadm skips them.
        let Ok(token) = BootstrapToken::from_secret(item) else {
            continue;
        };
        let expires = token.expiration.map_or_else(
            || "<never>".into(),
            |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let mut usages = token.usages.clone();
        usages.sort();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            token.bearer(),
            ttl_cell(token.expiration, now),
            expires,
            usages.join(","),
            or_none(token.description.clone()),
            or_none(token.extra_groups.join(",")),
        ));
    }
    out.write_all(align(&text, TABLE).as_bytes())?;
    Ok(())
}

async fn delete(session: &Session, args: DeleteArgs, out: &mut dyn Write) -> Result<(), CtlError> {
    for given in &args.tokens {
        let id = split_bearer(given.split("::").next().unwrap_or_default())
            .map(|(id, _)| id)
            .unwrap_or(given.as_str());
        if !bootstrap_token::is_token_part(id, 6) {
            return Err(CtlError::Usage(format!(
                "{given:?} is neither a token id ([a-z0-9]{{6}}) nor a token"
            )));
        }
        session
            .api
            .delete(&secrets_path(Some(&secret_name(id))))
            .await?;
        writeln!(out, "bootstrap token {id:?} deleted")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_cells_read_as_kubeadm_prints_them() {
        let now = Utc::now();
        assert_eq!(ttl_cell(None, now), "<forever>");
        assert_eq!(
            ttl_cell(Some(now - TimeDelta::seconds(1)), now),
            "<invalid>"
        );
        assert_eq!(
            ttl_cell(
                Some(now + TimeDelta::hours(23) + TimeDelta::seconds(30)),
                now
            ),
            "23h"
        );
        assert_eq!(short_human_duration(TimeDelta::seconds(598)), "9m");
        assert_eq!(short_human_duration(TimeDelta::seconds(59)), "59s");
        assert_eq!(short_human_duration(TimeDelta::days(400)), "1y");
    }
}
