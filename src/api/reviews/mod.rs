//! The review APIs: objects a client creates to ask a question and gets back answered,
//! never stored (upstream's `selfsubjectreviews`, `tokenreviews`,
//! `selfsubjectaccessreviews`, `selfsubjectrulesreviews`, `subjectaccessreviews`,
//! `localsubjectaccessreviews`). `kubectl auth whoami` and `kubectl auth can-i` are built
//! on them.
//!
//! Each answer is the request with its `status` filled in, `201 Created`, as upstream.

mod access;
mod identity;
mod rules;

use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::auth::{Attributes, Decision, Identity};
use super::body::{self, ResponseBody};
use super::registry::Registry;
use super::request_body;
use super::request_info::ResourcePath;
use super::status::ApiError;
use super::type_meta::{check_type_meta, Expected};
use super::unstored::UnstoredKind;
use crate::pki::tokens::TokenAuthenticator;

/// A review kind: served for `create` only, in discovery beside the stored kinds.
pub type Review = UnstoredKind;

const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";

const fn review(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Review {
    Review {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        verbs: &["create"],
    }
}

/// Every review kind served.
pub static REVIEWS: &[Review] = &[
    review(
        AUTHENTICATION,
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
    ),
    review(
        AUTHENTICATION,
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
    ),
    review(
        AUTHORIZATION,
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        "LocalSubjectAccessReview",
        true,
    ),
    review(
        AUTHORIZATION,
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
    ),
    review(
        AUTHORIZATION,
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        false,
    ),
    review(
        AUTHORIZATION,
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
    ),
];

/// The review kind `rp` addresses, if it is one.
pub fn handles(rp: &ResourcePath) -> Option<&'static Review> {
    REVIEWS
        .iter()
        .find(|r| r.group == rp.group && r.version == rp.version && r.plural == rp.resource)
}

/// What answering a review needs of the server.
pub struct Context<'a> {
    /// The objects (service accounts and what their tokens are bound to).
    pub registry: &'a Registry,
    /// The static bearer tokens, for token reviews.
    pub tokens: &'a TokenAuthenticator,
    /// The server's authorizer.
    pub authorize: &'a (dyn Fn(&Identity, &Attributes<'_>) -> Decision + Send + Sync),
}

/// Answers one review request (`rp` is a review kind: see [`handles`]).
pub async fn serve(
    cx: &Context<'_>,
    rp: &ResourcePath,
    verb: &str,
    who: &Identity,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let Some(review) = handles(rp) else {
        return body::error(&ApiError::path_not_found());
    };
    let (parts, incoming) = req.into_parts();
    let bytes = match body::read(incoming).await {
        Ok(b) => b,
        Err(e) => return body::error(&e),
    };
    match answer(cx, review, rp, verb, who, &parts.headers, &bytes) {
        Ok(v) => body::json(StatusCode::CREATED, &v),
        Err(e) => body::error(&e),
    }
}

fn answer(
    cx: &Context<'_>,
    review: &'static Review,
    rp: &ResourcePath,
    verb: &str,
    who: &Identity,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    if verb != "create" || rp.name.is_some() || rp.subresource.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    if review.namespaced != rp.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut obj = request_body::decode(content_type, bytes)?;
    check_envelope(review, &mut obj)?;
    let namespace = rp.namespace.as_deref().unwrap_or("");
    let status = match review.plural {
        "selfsubjectreviews" => identity::self_subject(who),
        "tokenreviews" => identity::token_review(cx, &obj)?,
        "selfsubjectaccessreviews" => access::self_subject(cx, who, &obj)?,
        "selfsubjectrulesreviews" => rules::self_subject(cx, who, &obj)?,
        "subjectaccessreviews" => access::subject(cx, review, &obj, None)?,
        _ => access::subject(cx, review, &obj, Some(namespace))?,
    };
    obj["status"] = status;
    Ok(obj)
}

/// Checks `apiVersion` and `kind` when given, and fills them in.
fn check_envelope(review: &Review, obj: &mut Value) -> Result<(), ApiError> {
    let api_version = format!("{}/{}", review.group, review.version);
    let map = check_type_meta(obj, Expected::new(&api_version, review.kind))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta["creationTimestamp"] = Value::Null;
    Ok(())
}

/// A user as the review kinds write one (`UserInfo`).
fn user_info(who: &Identity) -> Value {
    let mut info = json!({"username": who.user, "groups": who.groups});
    if !who.uid.is_empty() {
        info["uid"] = json!(who.uid);
    }
    if !who.extra.is_empty() {
        info["extra"] = json!(who.extra);
    }
    info
}

#[cfg(test)]
mod tests;
