//! `SelfSubjectReview` (who am I) and `TokenReview` (who is this token).

use serde_json::{json, Value};

use super::{user_info, Context};
use crate::api::auth::{self, Authn, Identity};
use crate::api::status::ApiError;

/// The status of a `SelfSubjectReview`: the asker, as authenticated.
pub fn self_subject(who: &Identity) -> Value {
    json!({"userInfo": user_info(who)})
}

/// The status of a `TokenReview`: whether `spec.token` authenticates and as whom. The
/// token is judged as if it came in a request's `Authorization` header.
pub fn token_review(cx: &Context<'_>, obj: &Value) -> Result<Value, ApiError> {
    let token = obj
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    if token.is_empty() {
        return Err(ApiError::invalid_kind(
            "authentication.k8s.io",
            "TokenReview",
            "",
            &[crate::resources::FieldError::required("spec.token", "")],
        ));
    }
    let header = format!("Bearer {token}");
    Ok(
        match auth::authenticate(None, Some(&header), cx.tokens, Some(cx.registry)) {
            Authn::Authenticated(who) => {
                let audiences = cx
                    .registry
                    .tokens()
                    .map(|t| t.api_audiences().to_vec())
                    .unwrap_or_default();
                json!({"authenticated": true, "user": user_info(&who), "audiences": audiences})
            }
            _ => json!({"user": {}, "error": "invalid bearer token"}),
        },
    )
}
