//! Pod IP allocation from the node's pod CIDR, persisted as one small file per address.
//!
//! Mirrors the CNI `host-local` plugin's disk store: the file `DIR/<ip>` holds the owning pod
//! uid and is created atomically (written under a temporary name, then hard-linked into place,
//! which fails if the address is taken), so a restart keeps every running pod's address and an
//! address is never handed out twice. Like `host-local`, the search starts after the last
//! reserved address so a just-released address is not reused at once.

use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::error::{NetworkError, Result};
use crate::cidr::Ipv4Cidr;

const LAST_RESERVED: &str = "last_reserved_ip";

/// File-backed allocator of pod addresses.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
    cidr: Ipv4Cidr,
}

fn state_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> NetworkError + 'a {
    move |source| NetworkError::State {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl Ipam {
    /// Opens (creating if missing) the allocation directory for `cidr`.
    pub fn open(dir: PathBuf, cidr: Ipv4Cidr) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(state_err("create", &dir))?;
        Ok(Ipam { dir, cidr })
    }

    /// Every current allocation: address and owning pod uid.
    pub fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(state_err("list", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(state_err("list", &self.dir))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let path = entry.path();
            match fs::read_to_string(&path) {
                Ok(owner) => out.push((ip, owner.trim().to_string())),
                // Released concurrently by another process: not an allocation any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(state_err("read", &path)(e)),
            }
        }
        out.sort();
        Ok(out)
    }

    /// The address held by `pod_uid`, if any.
    pub fn lookup(&self, pod_uid: &str) -> Result<Option<Ipv4Addr>> {
        Ok(self
            .allocations()?
            .into_iter()
            .find(|(ip, owner)| owner == pod_uid && self.cidr.is_pod_ip(*ip))
            .map(|(ip, _)| ip))
    }

    /// Returns the address of `pod_uid`, reserving a free one if it has none.
    pub fn allocate(&self, pod_uid: &str) -> Result<Ipv4Addr> {
        if let Some(ip) = self.lookup(pod_uid)? {
            return Ok(ip);
        }
        let first = u32::from(self.cidr.first_pod_ip());
        let last = u32::from(self.cidr.last_pod_ip());
        let start = match self.last_reserved() {
            Some(ip) if self.cidr.is_pod_ip(ip) && u32::from(ip) < last => u32::from(ip) + 1,
            _ => first,
        };
        let candidates = (start..=last).chain(first..start).map(Ipv4Addr::from);
        let tmp = self.dir.join(format!(".claim-{pod_uid}"));
        write_synced(&tmp, pod_uid).map_err(state_err("write", &tmp))?;
        let mut claimed = None;
        for ip in candidates {
            let path = self.dir.join(ip.to_string());
            match fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    claimed = Some(ip);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(state_err("claim", &path)(e));
                }
            }
        }
        fs::remove_file(&tmp).map_err(state_err("remove", &tmp))?;
        let ip = claimed.ok_or_else(|| NetworkError::Exhausted {
            cidr: self.cidr.to_string(),
            pod_uid: pod_uid.to_string(),
        })?;
        self.set_last_reserved(ip)?;
        Ok(ip)
    }

    /// Releases every address held by `pod_uid`; releasing nothing is not an error.
    pub fn release(&self, pod_uid: &str) -> Result<()> {
        for (ip, owner) in self.allocations()? {
            if owner == pod_uid {
                let path = self.dir.join(ip.to_string());
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(state_err("release", &path)(e)),
                }
            }
        }
        Ok(())
    }

    fn last_reserved(&self) -> Option<Ipv4Addr> {
        fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn set_last_reserved(&self, ip: Ipv4Addr) -> Result<()> {
        let path = self.dir.join(LAST_RESERVED);
        let tmp = self.dir.join(format!(".{LAST_RESERVED}.tmp"));
        write_synced(&tmp, &ip.to_string()).map_err(state_err("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(state_err("replace", &path))
    }
}

fn write_synced(path: &Path, content: &str) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> Ipam {
        Ipam::open(dir.join("ipam"), cidr.parse().unwrap()).unwrap()
    }

    #[test]
    fn allocation_is_stable_per_pod_and_survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let a = ipam(tmp.path(), "10.42.0.0/24");
        let ip_a = a.allocate("pod-a").unwrap();
        assert_eq!(ip_a, Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(a.allocate("pod-a").unwrap(), ip_a);
        let ip_b = a.allocate("pod-b").unwrap();
        assert_ne!(ip_a, ip_b);
        let reopened = ipam(tmp.path(), "10.42.0.0/24");
        assert_eq!(reopened.lookup("pod-a").unwrap(), Some(ip_a));
        assert_eq!(reopened.allocate("pod-b").unwrap(), ip_b);
    }

    #[test]
    fn released_address_is_not_reused_immediately() {
        let tmp = tempfile::tempdir().unwrap();
        let a = ipam(tmp.path(), "10.42.0.0/24");
        let first = a.allocate("pod-a").unwrap();
        a.release("pod-a").unwrap();
        a.release("pod-a").unwrap();
        assert_eq!(a.lookup("pod-a").unwrap(), None);
        assert_ne!(a.allocate("pod-b").unwrap(), first);
    }

    #[test]
    fn exhausted_cidr_names_the_pod_and_wraps_to_freed_addresses() {
        let tmp = tempfile::tempdir().unwrap();
        // A /30 has exactly one pod address (network, gateway, pod, broadcast).
        let a = ipam(tmp.path(), "10.42.0.0/30");
        assert_eq!(a.allocate("p1").unwrap(), Ipv4Addr::new(10, 42, 0, 2));
        let err = a.allocate("p2").unwrap_err();
        assert!(err.to_string().contains("p2"), "{err}");
        a.release("p1").unwrap();
        assert_eq!(a.allocate("p2").unwrap(), Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(a.allocations().unwrap().len(), 1);
    }
}
