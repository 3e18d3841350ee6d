//! Unit tests of layer unpacking (run as root: device nodes, ownership, trusted xattrs).

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// Builds a tar whose entry names are written raw (so `..` and `/abs` can be tested).
struct TarBuilder(Vec<u8>);

impl TarBuilder {
    fn new() -> Self {
        TarBuilder(Vec::new())
    }

    fn entry(
        mut self,
        name: &str,
        kind: tar::EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
    ) -> Self {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(1_000_000);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat(0).take(pad));
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, tar::EntryType::Regular, "", data, 0o644, 0)
    }

    fn dir(self, name: &str) -> Self {
        self.entry(name, tar::EntryType::Directory, "", b"", 0o755, 0)
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat(0).take(1024));
        self.0
    }
}

fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<(), UnpackError>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let res = extract(&mut &bytes[..], &root, "sha256:test");
    (dir, res)
}

#[test]
fn unpacks_files_modes_owners_links_and_devices() {
    let tar = TarBuilder::new()
        .dir("./bin/")
        .entry(
            "bin/tool",
            tar::EntryType::Regular,
            "",
            b"#!x",
            0o4755,
            1000,
        )
        .entry("bin/sh", tar::EntryType::Symlink, "tool", b"", 0o777, 0)
        .entry("bin/hard", tar::EntryType::Link, "bin/tool", b"", 0o755, 0)
        .entry("dev-null", tar::EntryType::Char, "", b"", 0o666, 0)
        .finish();
    let (dir, res) = unpack_bytes(&tar);
    res.unwrap();
    let root = dir.path().join("root");
    let m = fs::metadata(root.join("bin/tool")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid survives chown");
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    assert_eq!(m.mtime(), 1_000_000);
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(fs::metadata(root.join("bin/hard")).unwrap().ino(), m.ino());
    assert!(fs::symlink_metadata(root.join("dev-null"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn whiteouts_become_overlayfs_whiteouts() {
    let tar = TarBuilder::new()
        .dir("etc/")
        .file("etc/.wh.passwd", b"")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/new", b"n")
        .finish();
    let (dir, res) = unpack_bytes(&tar);
    res.unwrap();
    let root = dir.path().join("root");
    let wh = fs::symlink_metadata(root.join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!root.join("etc/.wh.passwd").exists());
    assert_eq!(
        get_xattr(&root.join("var/cache"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );
    assert!(!root.join("var/cache/.wh..wh..opq").exists());
    assert_eq!(fs::read(root.join("var/cache/new")).unwrap(), b"n");
}

#[test]
fn rejects_entries_escaping_the_layer() {
    for tar in [
        TarBuilder::new().file("../evil", b"x").finish(),
        TarBuilder::new().file("a/../../evil", b"x").finish(),
        TarBuilder::new().file("/abs-evil", b"x").finish(),
        TarBuilder::new()
            .entry("up", tar::EntryType::Symlink, "../..", b"", 0o777, 0)
            .file("up/evil", b"x")
            .finish(),
        TarBuilder::new()
            .file("f", b"x")
            .entry("h", tar::EntryType::Link, "../f", b"", 0o644, 0)
            .finish(),
    ] {
        let (dir, res) = unpack_bytes(&tar);
        assert!(
            matches!(res, Err(UnpackError::PathEscape { .. })),
            "{res:?}"
        );
        assert!(!dir.path().join("evil").exists());
        assert!(!dir.path().parent().unwrap().join("evil").exists());
    }
}

#[test]
fn absolute_symlinks_resolve_inside_the_layer() {
    let tar = TarBuilder::new()
        .dir("usr/lib/")
        .entry("lib", tar::EntryType::Symlink, "/usr/lib", b"", 0o777, 0)
        .file("lib/libc.so", b"c")
        .finish();
    let (dir, res) = unpack_bytes(&tar);
    res.unwrap();
    assert_eq!(
        fs::read(dir.path().join("root/usr/lib/libc.so")).unwrap(),
        b"c"
    );
}

#[test]
fn gzip_layer_is_verified_against_diff_id() {
    let dir = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new().file("hello", b"world").finish();
    let diff_id = super::super::store::sha256_digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &tar).unwrap();
    let blob = dir.path().join("blob");
    fs::write(&blob, gz.finish().unwrap()).unwrap();
    let dest = dir.path().join("layer");
    let wrong = super::super::store::sha256_digest(b"other");
    let e = unpack_layer(&blob, &wrong, &dest, dir.path()).unwrap_err();
    assert!(matches!(e, UnpackError::DiffIdMismatch { .. }), "{e}");
    assert!(!dest.exists());
    unpack_layer(&blob, &diff_id, &dest, dir.path()).unwrap();
    assert_eq!(fs::read(dest.join("hello")).unwrap(), b"world");
}
