//! The words every component uses to ask the API for something, whichever side of the
//! wire it is on: list and watch options, the events a watch brings, delete options with
//! their propagation policy, the subresource a write addresses and the patch formats. The
//! API server decodes requests into these; `LocalClient` hands them to it directly and
//! `RemoteClient` writes them as query parameters and headers.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::pki::identity::Identity;

/// List query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: String,
    /// `fieldSelector`.
    pub field_selector: String,
    /// `limit`: at most this many items per page (0: all).
    pub limit: usize,
    /// `continue` token from the previous page.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Matching objects.
    pub items: Vec<Value>,
    /// The revision the list is consistent at.
    pub resource_version: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Matching objects after this page.
    pub remaining: Option<usize>,
}

/// Watch query parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// `labelSelector`.
    pub label_selector: String,
    /// `fieldSelector`.
    pub field_selector: String,
    /// `resourceVersion`: empty or "0" start with the current objects.
    pub resource_version: String,
    /// `sendInitialEvents=true`: end the initial objects with a marked bookmark.
    pub send_initial_events: bool,
}

/// One event as sent to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// `ADDED`.
    Added(Value),
    /// `MODIFIED`.
    Modified(Value),
    /// `DELETED`.
    Deleted(Value),
    /// `BOOKMARK`: progress up to a revision.
    Bookmark(Value),
    /// `ERROR` with a Status; the stream ends after it.
    Error(Value),
}

impl WatchEvent {
    /// The upstream `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Added(_) => "ADDED",
            Self::Modified(_) => "MODIFIED",
            Self::Deleted(_) => "DELETED",
            Self::Bookmark(_) => "BOOKMARK",
            Self::Error(_) => "ERROR",
        }
    }

    /// The event's object.
    pub fn object(&self) -> &Value {
        match self {
            Self::Added(o)
            | Self::Modified(o)
            | Self::Deleted(o)
            | Self::Bookmark(o)
            | Self::Error(o) => o,
        }
    }
}

/// A watch event with its object read as `K` (for a change) straight from the text it came
/// as, with no `Value` in between: what informers take.
#[derive(Debug)]
pub enum TypedEvent<K> {
    /// `ADDED`.
    Added(K),
    /// `MODIFIED`.
    Modified(K),
    /// `DELETED`.
    Deleted(K),
    /// `BOOKMARK`: progress up to a revision.
    Bookmark(Value),
    /// `ERROR` with a Status; the stream ends after it.
    Error(Value),
    /// An `ADDED`, `MODIFIED` or `DELETED` whose object is not a `K`.
    Unreadable(serde_json::Error),
}

impl<K: DeserializeOwned> TypedEvent<K> {
    /// The event of `type_name` (upstream's `type`) whose object is the JSON `text`.
    pub fn from_text(type_name: &str, text: &str) -> Self {
        let read = |f: fn(K) -> Self| match serde_json::from_str(text) {
            Ok(k) => f(k),
            Err(e) => Self::Unreadable(e),
        };
        let value = || serde_json::from_str(text).unwrap_or(Value::Null);
        match type_name {
            "ADDED" => read(Self::Added),
            "MODIFIED" => read(Self::Modified),
            "DELETED" => read(Self::Deleted),
            "BOOKMARK" => Self::Bookmark(value()),
            _ => Self::Error(value()),
        }
    }
}

/// The garbage collector's finalizer for a delete that orphans the dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The garbage collector's finalizer for a delete that removes the dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Both of the garbage collector's finalizers.
pub const GC_FINALIZERS: [&str; 2] = [ORPHAN_FINALIZER, FOREGROUND_FINALIZER];

/// `DeleteOptions`, from the body or the query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Requested grace period; 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// Only delete this exact object.
    pub preconditions: Option<Preconditions>,
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// Deprecated spelling of the Orphan (true) and Background (false) policies.
    pub orphan_dependents: Option<bool>,
    /// `["All"]` to validate without deleting.
    #[serde(default)]
    pub dry_run: Vec<String>,
    /// Who asks, for admission that depends on the requester (`None`: the server itself).
    #[serde(skip)]
    pub requester: Option<Identity>,
}

/// Delete preconditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's uid must be this.
    pub uid: Option<String>,
    /// The object's resourceVersion must be this.
    pub resource_version: Option<String>,
}

/// Which part of the object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself: status changes are ignored for kinds with a status subresource.
    Main,
    /// `/status`: only the status changes.
    Status,
    /// `/finalize` (namespaces): only the kind's finalizers change.
    Finalize,
    /// `/ephemeralcontainers` (pods): only ephemeral containers are added.
    EphemeralContainers,
    /// `/approval` (certificate signing requests): only the approval decision changes.
    Approval,
}

impl Subresource {
    /// The subresource's path segment; empty for the object itself.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Main => "",
            Subresource::Status => "status",
            Subresource::Finalize => "finalize",
            Subresource::EphemeralContainers => "ephemeralcontainers",
            Subresource::Approval => "approval",
        }
    }
}

/// The patch formats a `PATCH` request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch: `application/json-patch+json`.
    Json,
    /// RFC 7386 JSON merge patch: `application/merge-patch+json`.
    Merge,
    /// Kubernetes strategic merge patch: `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// Server-side apply: `application/apply-patch+yaml`, the manager's whole intent.
    Apply,
}

impl PatchType {
    /// The format named by a `Content-Type` header, ignoring parameters such as `charset`;
    /// `None` for any other media type (upstream answers 415 `UnsupportedMediaType`).
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media_type = ct.split(';').next().unwrap_or_default().trim();
        [
            ("application/json-patch+json", PatchType::Json),
            ("application/merge-patch+json", PatchType::Merge),
            (
                "application/strategic-merge-patch+json",
                PatchType::StrategicMerge,
            ),
            ("application/apply-patch+yaml", PatchType::Apply),
        ]
        .into_iter()
        .find(|(name, _)| media_type.eq_ignore_ascii_case(name))
        .map(|(_, patch_type)| patch_type)
    }

    /// The media type this format is sent as.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}
