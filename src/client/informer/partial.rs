//! An object reduced to its metadata, as client-go's `PartialObjectMetadata`: what an
//! informer over every kind keeps (the garbage collector's graph needs owners, finalizers
//! and deletion marks, not specs), so watching all kinds costs little memory.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// Only an object's metadata; the rest of the object is skipped when it is read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PartialObject {
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl k8s_openapi::Resource for PartialObject {
    const API_VERSION: &'static str = "meta.k8s.io/v1";
    const GROUP: &'static str = "meta.k8s.io";
    const KIND: &'static str = "PartialObjectMetadata";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "";
    type Scope = k8s_openapi::SubResourceScope;
}

impl k8s_openapi::Metadata for PartialObject {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
