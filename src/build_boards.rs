//! Build-time embedding of the board profiles: reads `boards/*.toml` (unknown keys refused),
//! checks the set with `board_profile::check` and writes it as postcard to
//! `$OUT_DIR/boards.postcard`, which `src/hardware/profile.rs` includes. The binary carries
//! the profiles but no TOML parser.

use std::path::Path;

#[path = "hardware/board_profile.rs"]
#[allow(dead_code)] // the library uses the rest of the file
mod board_profile;

use board_profile::BoardProfile;

/// Reads, checks and writes the profiles in `boards_dir` to `out_dir`.
pub fn generate(boards_dir: &Path, out_dir: &Path) -> Result<(), String> {
    println!("cargo:rerun-if-changed={}", boards_dir.display());
    let mut files: Vec<_> = std::fs::read_dir(boards_dir)
        .map_err(|e| format!("{}: {e}", boards_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut profiles = Vec::with_capacity(files.len());
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let profile: BoardProfile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        profiles.push(profile);
    }
    board_profile::check(&profiles).map_err(|problems| problems.join("; "))?;
    let bytes = postcard::to_stdvec(&profiles).map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join("boards.postcard"), bytes).map_err(|e| e.to_string())
}
