//! The server's own join token (`DATA_DIR/join-token`, as k3s' `node-token`) is a bootstrap
//! token like those `bramble ctl token create` makes: a Secret without expiry, so
//! `bramble ctl token delete <id>` revokes it too. The Secret is created once, when the
//! server first publishes that token (a marker file beside it records this), so a token
//! revoked by deleting its Secret stays revoked across restarts.

use std::path::Path;

use super::ServerError;
use crate::api::registry::{Registry, WriteOptions};
use crate::pki::join_token::JoinToken;
use crate::resources::bootstrap_token::{
    self, BootstrapToken, AUTHENTICATION_USAGE, DEFAULT_NODE_GROUP, SIGNING_USAGE,
};
use crate::resources::secret;

/// Marker file under the data directory: the id of the join token already published.
pub const PUBLISHED_FILE: &str = "join-token.published";

/// Creates the Secret for `token` unless this data directory has published it before.
pub async fn publish(
    registry: &Registry,
    data_dir: &Path,
    token: &JoinToken,
) -> Result<(), ServerError> {
    let marker = data_dir.join(PUBLISHED_FILE);
    let bearer = token.bearer();
    let Some((id, secret_part)) = bootstrap_token::split_bearer(&bearer) else {
        // JoinToken::parse and generate only make tokens of this shape.
        return Ok(());
    };
    if std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == id) {
        return Ok(());
    }
    let secret = BootstrapToken {
        id: id.into(),
        secret: secret_part.into(),
        expiration: None,
        usages: vec![AUTHENTICATION_USAGE.into(), SIGNING_USAGE.into()],
        extra_groups: vec![DEFAULT_NODE_GROUP.into()],
        description: "The server's join token (DATA_DIR/join-token).".into(),
    }
    .to_secret();
    match registry
        .create(
            &secret::RESOURCE,
            bootstrap_token::NAMESPACE,
            secret,
            &WriteOptions::default(),
        )
        .await
    {
        Ok(_) => tracing::info!(
            token_id = id,
            "published the join token as a bootstrap token"
        ),
        // Another server on the same datastore, or an earlier start that stopped before
        // writing the marker.
        Err(e) if e.code == 409 => {}
        Err(source) => {
            return Err(ServerError::Bootstrap {
                what: format!("secret kube-system/{}", bootstrap_token::secret_name(id)),
                source,
            })
        }
    }
    crate::pki::write_atomic(&marker, format!("{id}\n").as_bytes(), 0o644).map_err(|source| {
        ServerError::Io {
            path: marker.clone(),
            source,
        }
    })
}
