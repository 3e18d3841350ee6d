//! Strategic-merge-patch metadata per kind: which lists merge by which key.

/// Patch strategies for the fields of one object type.
pub struct PatchSchema {}

/// A kind whose lists are all replaced atomically.
pub static NONE: PatchSchema = PatchSchema {};
