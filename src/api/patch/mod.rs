//! Patch formats: JSON merge patch, JSON patch and strategic merge patch.
#![allow(missing_docs)]
use crate::resources::PatchSchema;
#[derive(Debug, Clone, Copy)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
}
#[derive(Debug, thiserror::Error)]
#[error("patch failed")]
pub struct PatchError;
impl PatchError {
    pub fn status_code(&self) -> u16 {
        400
    }
    pub fn reason(&self) -> &'static str {
        "BadRequest"
    }
}
impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next()?.trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            _ => None,
        }
    }
}
pub fn apply(
    _t: PatchType,
    _s: &PatchSchema,
    o: &serde_json::Value,
    p: &[u8],
) -> Result<serde_json::Value, PatchError> {
    let p: serde_json::Value = serde_json::from_slice(p).map_err(|_| PatchError)?;
    let mut o = o.clone();
    json_patch::merge(&mut o, &p);
    Ok(o)
}
