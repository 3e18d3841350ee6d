//! The `serviceaccounts/token` subresource (upstream's `TokenREST`).

use serde_json::Value;

use super::{Registry, WriteOptions};
use crate::api::status::ApiError;

impl Registry {
    /// Issues a token for service account `namespace/name` as `request` (a `TokenRequest`) asks.
    pub async fn create_token(
        &self,
        _namespace: &str,
        _name: &str,
        _request: Value,
        _opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Err(ApiError::method_not_allowed())
    }
}
