//! Build script: stamps the build time into the binary (`BRAMBLE_BUILD_EPOCH`), the lower
//! bound `bramble check` holds the clock against on boards without a real-time clock.
//! `SOURCE_DATE_EPOCH` (reproducible builds) wins when set. Also generates the OpenAPI
//! schemas the API server serves (`build_openapi.rs`) and embeds the board profiles
//! (`build_boards.rs`).

#[path = "build_boards.rs"]
mod build_boards;
#[path = "build_openapi.rs"]
mod build_openapi;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // re-running only when this file changes keeps incremental builds unaffected; a stamp
    // older than the binary is still a valid lower bound
    println!("cargo:rerun-if-changed=src/build.rs");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=BRAMBLE_BUILD_EPOCH={epoch}");

    println!("cargo:rerun-if-changed=src/build_openapi.rs");
    // a build script reports failure by panicking: the build stops with the message
    let out_dir = std::env::var_os("OUT_DIR").unwrap_or_else(|| panic!("cargo sets OUT_DIR"));
    if let Err(e) = build_openapi::generate(std::path::Path::new(&out_dir)) {
        panic!("writing the OpenAPI schemas: {e}");
    }

    println!("cargo:rerun-if-changed=src/build_boards.rs");
    println!("cargo:rerun-if-changed=src/hardware/board_profile.rs");
    if let Err(e) = build_boards::generate(Path::new("boards"), Path::new(&out_dir)) {
        panic!("board profiles: {e}");
    }
}
