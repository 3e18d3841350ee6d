//! Images on a board without registry access, and images nobody uses any more:
//! `bramble ctl image import` puts an OCI archive into the running board's store so a pod
//! with `imagePullPolicy: Never` runs from it, and removing a pod lets image garbage
//! collection (forced here by a 1 % high threshold) delete the image only it used. Needs
//! root and the kubelet tests' Debian packages.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use support::board::{Board, IDLE};
use support::registry::run;
use support::{eventually, Cluster};

fn ctl_image(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bramble"))
        .args(["ctl", "image"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

fn image_list(c: &Cluster) -> String {
    let out = ctl_image(&c.data_dir(), &["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pod(name: &str, image: &str, policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {image}\n    imagePullPolicy: {policy}\n"
    )
}

#[test]
fn an_imported_archive_runs_offline_and_unused_images_are_collected() {
    let board = Board::start_with(
        "builtin",
        13,
        &[("library/keep", IDLE), ("library/gone", IDLE)],
        &[
            "--image-gc-high-threshold",
            "1",
            "--image-gc-low-threshold",
            "0",
        ],
    );
    let c = &board.cluster;
    let work = board.work.path();

    // An archive of an image under a name no registry serves.
    let archive = work.join("airgap.tar");
    let dest = format!(
        "oci-archive:{}:docker.io/library/airgap:1",
        archive.display()
    );
    run(work, &["skopeo", "copy", "oci:oci:library-keep", &dest]);
    let out = ctl_image(&c.data_dir(), &["import", archive.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("imported docker.io/library/airgap:1 (sha256:"),
        "{said}"
    );

    // A broken archive is refused in one line and leaves the store as it was.
    let before = image_list(c);
    let junk = work.join("junk.tar");
    std::fs::write(&junk, b"not an archive").unwrap();
    let out = ctl_image(&c.data_dir(), &["import", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    assert_eq!(image_list(c), before);

    c.apply(&pod("air", "airgap:1", "Never"));
    c.apply(&pod("keep", "keep", "IfNotPresent"));
    c.apply(&pod("gone", "gone", "IfNotPresent"));
    for name in ["air", "keep", "gone"] {
        eventually(&format!("{name} to run"), || {
            let row = c.kubectl_ok(&["get", "pod", name, "--no-headers"]);
            row.contains("Running").then_some(())
        });
    }
    let list = image_list(c);
    assert!(list.starts_with("IMAGE"), "{list}");
    for repo in ["library/airgap", "library/keep", "library/gone"] {
        assert!(
            list.contains(&format!("docker.io/{repo} ")),
            "{repo} in {list}"
        );
    }

    c.kubectl_ok(&["delete", "pod", "gone", "--wait=true"]);
    let list = eventually("the unused image to be collected", || {
        let list = image_list(c);
        (!list.contains("library/gone")).then_some(list)
    });
    assert!(list.contains("docker.io/library/airgap "), "in use: {list}");
    assert!(list.contains("docker.io/library/keep "), "in use: {list}");
}
