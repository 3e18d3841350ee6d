//! Writing the status a controller computed for its object, as upstream's controllers do
//! with `UpdateStatus`: a merge patch of the `status` subresource only, so the spec and
//! generation stay. An object deleted meanwhile (404) is no error: nothing is left to sync.

use serde_json::{json, Value};

use crate::client::informer::{key_of, Kind};
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::lookup_kind;

/// Merge-patches `status` into `obj`'s status; `Ok(false)` when `obj` is gone.
pub async fn patch_status<C: Client, K: Kind>(
    client: &C,
    obj: &K,
    status: Value,
) -> Result<bool, ApiError> {
    match patch_through_status(client, obj, &json!({ "status": status })).await {
        Ok(()) => Ok(true),
        Err(e) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Merge-patches `patch` into `obj` through its status subresource, which keeps its
/// generation (as upstream's Deployment controller notes its revision annotation).
pub async fn patch_through_status<C: Client, K: Kind>(
    client: &C,
    obj: &K,
    patch: &Value,
) -> Result<(), ApiError> {
    let rt = lookup_kind(K::API_VERSION, K::KIND)
        .ok_or_else(|| ApiError::internal(format!("the API serves no {}", K::KIND)))?;
    let (ns, name) = key_of(obj);
    client
        .patch(rt, &ns, &name, PatchType::Merge, patch, Subresource::Status)
        .await
        .map(|_| ())
}
