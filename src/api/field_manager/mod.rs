//! Managed fields: which manager set which field of an object, and server-side apply
//! (upstream's `fieldmanager` over structured-merge-diff).
//!
//! Every write records its manager in `metadata.managedFields`: a create or update
//! (operation `Update`) takes the fields it set or changed from everyone else, and fields
//! it removed leave every manager. An apply (operation `Apply`, `PATCH` with
//! `application/apply-patch+yaml`) states the manager's whole intent: its fields are merged
//! into the object, a field another manager holds with another value is a conflict unless
//! forced, and a field the manager applied before and no longer applies is removed unless
//! someone else holds it. The manager's `Apply` entry is then exactly the fields applied.
//!
//! Fields no one manages (`apiVersion`, `kind`, the server's metadata) are left out; a
//! kind's status belongs to writes through its `status` subresource, everything else to
//! writes through the main resource.

mod fieldset;
mod managed;
mod path;
mod structure;
mod tracked;

pub use fieldset::{FieldSet, FieldsError};
pub use managed::{
    apply, conflict_message, track_update, within_last_applied, Conflict, Entry, Operation, Request,
};
pub use path::Element;

/// Longest `fieldManager` accepted (upstream's limit).
pub const MAX_MANAGER_LEN: usize = 128;

/// The manager of a request that names none: the user agent up to its first `/`, as
/// upstream's `prefixFromUserAgent`, cut to [`MAX_MANAGER_LEN`].
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    prefix.chars().take(MAX_MANAGER_LEN).collect()
}

/// Upstream's `ValidateFieldManager` for a `fieldManager` given by the client.
pub fn validate_manager(manager: &str) -> Result<(), String> {
    if manager.len() > MAX_MANAGER_LEN {
        return Err(format!("may not be more than {MAX_MANAGER_LEN} bytes"));
    }
    match manager.char_indices().find(|(_, c)| c.is_control()) {
        Some((i, c)) => Err(format!(
            "invalid character U+{:04X} (at position {i})",
            u32::from(c)
        )),
        None => Ok(()),
    }
}
