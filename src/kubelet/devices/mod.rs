//! Host devices (`/dev/i2c-1`, `/dev/gpiochip0`, `/dev/ttyUSB0`, ...) as Kubernetes extended
//! resources, as a device plugin offers them but built into the kubelet: each declared
//! device that exists is one unit of its resource on the Node (`bramble.io/i2c-1: 1`), a
//! pod asking for it in `resources.limits` is admitted only while it is free, and only the
//! containers that asked get the device node and a cgroup rule allowing it.
//!
//! `declaration` names devices and checks that they exist, `allocation` keeps which pod
//! holds which, `restore` rebuilds that after a restart, `oci` turns a container's devices
//! into its bundle's entries.

pub mod allocation;
pub mod declaration;
pub mod oci;
pub mod restore;

pub use allocation::{capacity, AllocationError, DeviceAllocator, UNEXPECTED_ADMISSION_ERROR};
pub use declaration::{DeclarationError, DeviceDeclaration, RESOURCE_PREFIX};
pub use oci::{linux_devices, DeviceMissing};
pub use restore::restore;
