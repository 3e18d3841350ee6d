//! The user a container runs as: `uid[:gid]` or names from the image's `User`, resolved
//! against the container's own `/etc/passwd` and `/etc/group`, as containerd's `WithUser`,
//! `WithAdditionalGIDs` and the CRI plugin's `WithSupplementalGroups` do.

use std::path::{Path, PathBuf};

use super::ContainerConfigError;

/// The process identity written into the OCI spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Primary group, groups listing the user in `/etc/group`, then the pod's
    /// `supplementalGroups` and `fsGroup`; sorted, without duplicates.
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// `rootfs/etc/<file>`, unless a symlink leads it out of the rootfs (then it counts as absent,
/// as containerd's scoped path resolution would not follow it out either).
fn read_in_rootfs(rootfs: &Path, file: &str) -> Result<Option<String>, ContainerConfigError> {
    let path: PathBuf = rootfs.join("etc").join(file);
    let resolved = match path.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ContainerConfigError::io(&path, e)),
    };
    let root = rootfs
        .canonicalize()
        .map_err(|e| ContainerConfigError::io(rootfs, e))?;
    if !resolved.starts_with(&root) {
        return Ok(None);
    }
    std::fs::read_to_string(&resolved)
        .map(Some)
        .map_err(|e| ContainerConfigError::io(&path, e))
}

fn passwd(rootfs: &Path) -> Result<Option<Vec<PasswdEntry>>, ContainerConfigError> {
    Ok(read_in_rootfs(rootfs, "passwd")?.map(|text| {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                Some(PasswdEntry {
                    name: f.first()?.to_string(),
                    uid: f.get(2)?.parse().ok()?,
                    gid: f.get(3)?.parse().ok()?,
                })
            })
            .collect()
    }))
}

fn groups(rootfs: &Path) -> Result<Vec<GroupEntry>, ContainerConfigError> {
    let Some(text) = read_in_rootfs(rootfs, "group")? else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

fn no_user(user: &str) -> ContainerConfigError {
    ContainerConfigError::UserNotFound(user.to_string())
}

/// Resolves `user` (`uid`, `name`, `uid:gid`, `name:group`...) inside `rootfs` and adds
/// `supplemental` gids.
///
/// A bare numeric uid takes its primary group from `/etc/passwd` (0 when the uid has no entry
/// or there is no passwd file); names must exist in the image.
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    supplemental: &[u32],
) -> Result<ResolvedUser, ContainerConfigError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if user_part.is_empty() {
        return Err(no_user(user));
    }
    let entries = passwd(rootfs)?;
    let by_uid = |uid: u32| entries.iter().flatten().find(|e| e.uid == uid);
    let (uid, name, passwd_gid) = match user_part.parse::<u32>() {
        Ok(uid) => {
            let entry = by_uid(uid);
            (uid, entry.map(|e| e.name.clone()), entry.map(|e| e.gid))
        }
        Err(_) => {
            let entry = entries
                .iter()
                .flatten()
                .find(|e| e.name == user_part)
                .ok_or_else(|| no_user(user_part))?;
            (entry.uid, Some(entry.name.clone()), Some(entry.gid))
        }
    };
    let group_entries = groups(rootfs)?;
    let gid = match group_part {
        // `uid` alone: the passwd entry's group, as containerd's `WithUserID`.
        None => passwd_gid.unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| ContainerConfigError::GroupNotFound(g.to_string()))?,
        },
    };
    // The primary gid always comes first among the additional gids (containerd's
    // `ensureAdditionalGids`), then groups that list the user by name.
    let mut additional = vec![gid];
    if let Some(name) = &name {
        additional.extend(
            group_entries
                .iter()
                .filter(|g| &g.name != name && g.members.iter().any(|m| m == name))
                .map(|g| g.gid),
        );
    }
    additional.extend_from_slice(supplemental);
    additional.sort_unstable();
    additional.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:102:nginx:/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nnginx:x:102:nginx\nwww:x:33:nginx,other\nadm:x:4:root\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn names_and_numbers_resolve_from_the_image() {
        let r = rootfs();
        let nginx = resolve_user(r.path(), "nginx", &[]).unwrap();
        assert_eq!((nginx.uid, nginx.gid), (101, 102));
        assert_eq!(nginx.additional_gids, vec![33, 102]);
        let numeric = resolve_user(r.path(), "101", &[2000]).unwrap();
        assert_eq!((numeric.uid, numeric.gid), (101, 102));
        assert_eq!(numeric.additional_gids, vec![33, 102, 2000]);
        let unknown_uid = resolve_user(r.path(), "4242", &[]).unwrap();
        assert_eq!((unknown_uid.uid, unknown_uid.gid), (4242, 0));
        let pair = resolve_user(r.path(), "nginx:www", &[]).unwrap();
        assert_eq!((pair.uid, pair.gid), (101, 33));
        let root = resolve_user(r.path(), "0:5", &[]).unwrap();
        assert_eq!(
            (root.uid, root.gid, root.additional_gids),
            (0, 5, vec![4, 5])
        );
    }

    #[test]
    fn unknown_names_are_errors_and_missing_passwd_is_fine() {
        let r = rootfs();
        let err = resolve_user(r.path(), "postgres", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user postgres: no matching entries in passwd file"
        );
        let err = resolve_user(r.path(), "nginx:nogroup", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        let empty = tempfile::tempdir().unwrap();
        let u = resolve_user(empty.path(), "1000:1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 1000, vec![1000]));
    }
}
