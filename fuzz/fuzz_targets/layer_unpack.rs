//! Image layers as a registry serves them: a tar stream (gzip or not) with whiteouts,
//! links, devices and hostile paths, extracted into a fresh root. Beyond "no panic", the
//! target checks what a hostile layer must never achieve: nothing appears beside the root,
//! and a file outside it is neither changed nor linked into it.
#![no_main]

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use bramble::kubelet::image::unpack::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let work = tempfile::tempdir().expect("temp dir");
    let root = work.path().join("root");
    let outside = work.path().join("outside");
    fs::create_dir(&root).expect("root");
    fs::create_dir(&outside).expect("outside");
    let sentinel = outside.join("sentinel");
    fs::write(&sentinel, b"untouched").expect("sentinel");
    let sentinel_ino = fs::metadata(&sentinel).expect("sentinel").ino();

    let mut reader: Box<dyn Read> = if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2_reader(data))
    } else {
        Box::new(data)
    };
    let _ = extract(&mut reader, &root, "sha256:fuzz");

    let mut beside: Vec<_> = fs::read_dir(work.path())
        .expect("work dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    beside.sort();
    assert_eq!(beside, ["outside", "root"], "a layer wrote beside its root");
    assert_eq!(
        fs::read_dir(&outside).expect("outside").count(),
        1,
        "a layer wrote outside its root"
    );
    assert_eq!(fs::read(&sentinel).expect("sentinel"), b"untouched");
    assert!(
        !links_to(&root, sentinel_ino),
        "a layer hard-linked a file from outside its root"
    );
});

fn flate2_reader(data: &[u8]) -> impl Read + '_ {
    flate2::read::GzDecoder::new(data)
}

/// Whether any file below `dir` (not following symlinks) is inode `ino`.
fn links_to(dir: &Path, ino: u64) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| match e.path().symlink_metadata() {
        Ok(m) if m.is_dir() => links_to(&e.path(), ino),
        Ok(m) => m.ino() == ino,
        Err(_) => false,
    })
}
