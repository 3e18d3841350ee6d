//! Which host devices a node offers and under which extended resource name: a declaration
//! is a device file's path and its resource name, `bramble.io/` followed by the file's name
//! unless given (`--device /dev/ttyUSB0=bramble.io/serial`). A resource name must be what
//! the API accepts as an extended resource (upstream's `IsExtendedResourceName`), so a
//! declaration the Node could not carry is refused when the kubelet starts.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::resources::validation::is_qualified_name;

/// The domain of the resource names this kubelet gives host devices.
pub const RESOURCE_PREFIX: &str = "bramble.io/";

/// A host device offered to pods as one unit of an extended resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDeclaration {
    /// The device file on the host, also its path inside the containers given it.
    pub path: PathBuf,
    /// The extended resource a pod asks for to get it (`bramble.io/i2c-1`).
    pub resource: String,
}

/// A device declaration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    /// The path is relative or names no file.
    #[error("{0:?}: a device is an absolute path to a file, such as /dev/i2c-1")]
    Path(String),
    /// The resource name is not an extended resource name.
    #[error("{name:?} is not an extended resource name: {reason}")]
    Resource {
        /// The name as given or derived.
        name: String,
        /// Why not.
        reason: String,
    },
}

impl DeviceDeclaration {
    /// `path` under its default name, `bramble.io/<file name>`.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, DeclarationError> {
        let path = path.into();
        let resource = default_resource(&path)?;
        Self::named(path, &resource)
    }

    /// `path` under `resource`; a name without a domain gets `bramble.io/`.
    pub fn named(path: impl Into<PathBuf>, resource: &str) -> Result<Self, DeclarationError> {
        let path = path.into();
        check_path(&path)?;
        let resource = if resource.contains('/') {
            resource.to_string()
        } else {
            format!("{RESOURCE_PREFIX}{resource}")
        };
        check_resource(&resource)?;
        Ok(Self { path, resource })
    }

    /// Parses the `--device` option: `PATH` or `PATH=RESOURCE`.
    pub fn parse(text: &str) -> Result<Self, DeclarationError> {
        match text.split_once('=') {
            Some((path, resource)) => Self::named(path, resource),
            None => Self::new(text),
        }
    }

    /// Whether the device exists on this host now: a character or block device at the path,
    /// symlinks followed (`/dev/serial0` is one on a Raspberry Pi).
    pub fn is_present(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| {
            let t = m.file_type();
            t.is_char_device() || t.is_block_device()
        })
    }
}

impl std::str::FromStr for DeviceDeclaration {
    type Err = DeclarationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn check_path(path: &Path) -> Result<(), DeclarationError> {
    let named_file = path.is_absolute() && path.file_name().is_some();
    let clean = path
        .components()
        .all(|c| !matches!(c, std::path::Component::ParentDir));
    if named_file && clean {
        Ok(())
    } else {
        Err(DeclarationError::Path(path.display().to_string()))
    }
}

/// `bramble.io/` and the device file's name.
fn default_resource(path: &Path) -> Result<String, DeclarationError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| DeclarationError::Path(path.display().to_string()))?;
    Ok(format!("{RESOURCE_PREFIX}{name}"))
}

/// Upstream's `IsExtendedResourceName`: a domain-prefixed name outside `kubernetes.io`,
/// which is also a valid name with `requests.` before it (a quota key).
fn check_resource(name: &str) -> Result<(), DeclarationError> {
    let refuse = |reason: String| DeclarationError::Resource {
        name: name.to_string(),
        reason,
    };
    let Some((domain, _)) = name.split_once('/') else {
        return Err(refuse("it needs a domain such as bramble.io/".into()));
    };
    if domain == "kubernetes.io" || domain.ends_with(".kubernetes.io") {
        return Err(refuse("the kubernetes.io domain is reserved".into()));
    }
    if name.starts_with("requests.") {
        return Err(refuse("it may not start with requests.".into()));
    }
    let errors = is_qualified_name(&format!("requests.{name}"));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(refuse(errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_named_for_its_file() {
        for (path, name) in [
            ("/dev/i2c-1", "bramble.io/i2c-1"),
            ("/dev/gpiochip0", "bramble.io/gpiochip0"),
            ("/dev/ttyUSB0", "bramble.io/ttyUSB0"),
            ("/dev/spidev0.0", "bramble.io/spidev0.0"),
            ("/dev/video0", "bramble.io/video0"),
        ] {
            let d = DeviceDeclaration::parse(path).unwrap();
            assert_eq!(d.path, Path::new(path));
            assert_eq!(d.resource, name);
        }
    }

    #[test]
    fn the_option_may_name_the_resource() {
        let d = DeviceDeclaration::parse("/dev/ttyUSB0=bramble.io/serial").unwrap();
        assert_eq!(
            (d.path.as_path(), d.resource.as_str()),
            (Path::new("/dev/ttyUSB0"), "bramble.io/serial")
        );
        let d = DeviceDeclaration::parse("/dev/ttyACM0=modem").unwrap();
        assert_eq!(d.resource, "bramble.io/modem");
        let d = DeviceDeclaration::parse("/dev/video0=example.com/camera").unwrap();
        assert_eq!(d.resource, "example.com/camera");
    }

    #[test]
    fn unusable_declarations_are_refused() {
        for bad in [
            "dev/i2c-1",
            "/",
            "/dev/../etc/passwd",
            "/dev/x=kubernetes.io/x",
            "/dev/x=node.kubernetes.io/x",
            "/dev/x=bramble.io/",
            "/dev/x=bramble.io/has space",
            "/dev/bad:name",
        ] {
            assert!(DeviceDeclaration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_device_files_are_present() {
        assert!(DeviceDeclaration::new("/dev/null").unwrap().is_present());
        assert!(!DeviceDeclaration::new("/etc/hostname")
            .unwrap()
            .is_present());
        let pid = std::process::id();
        let missing = DeviceDeclaration::new(format!("/dev/bramble-missing-{pid}")).unwrap();
        assert!(!missing.is_present());
    }
}
