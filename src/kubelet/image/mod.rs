//! OCI images for the kubelet: from an image name as a user writes it to a mounted container
//! root filesystem.
//!
//! The kubelet uses [`ImageService`]: [`ImageService::ensure_image`] (honouring
//! `imagePullPolicy`), [`ImageService::mount_rootfs`] / [`ImageService::unmount_rootfs`],
//! [`ImageService::import_oci_archive`] and [`ImageService::garbage_collect`]. Errors are
//! [`PullError`], whose [`PullError::reason`] is the container waiting reason to report.
//! Underneath: [`reference`] (name normalisation), [`registries`] (k3s `registries.yaml`,
//! pull secrets), [`client`] (distribution API), [`platform`] (multi-arch choice),
//! [`store`] (blobs and records under `DATA/images`), [`store_lock`] (GC against imports), [`unpack`] (layers, whiteouts),
//! [`rootfs`] (overlayfs), [`archive`] (OCI archive import) and [`gc`] (image GC).

pub mod archive;
mod auth;
pub mod client;
mod error;
pub mod gc;
pub mod manifest;
pub mod platform;
pub mod reference;
pub mod registries;
pub mod rootfs;
mod service;
pub mod store;
pub mod store_lock;
mod transport;
pub mod unpack;

pub use error::PullError;
pub use gc::{GcPolicy, GcReport};
pub use manifest::ContainerConfig;
pub use platform::Platform;
pub use reference::Reference;
pub use registries::RegistryConfig;
pub use service::{ImageInfo, ImageService, PullPolicy};
