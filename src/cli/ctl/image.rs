//! `bramble ctl image import FILE` and `bramble ctl image list`: the board's own image store,
//! for boards without registry access, as `k3s ctr images import` is for k3s. They run on
//! the board against the data directory the server uses; the store is plain files with
//! atomic renames, so a running kubelet sees an imported image at once.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::error::CtlError;
use super::tabwriter;
use crate::kubelet::image::{ImageInfo, ImageService, Reference, RegistryConfig};

/// Arguments of `bramble ctl image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The data directory of the server or agent on this board.
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/bramble",
        env = "BRAMBLE_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// The verbs of `bramble ctl image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import the images of an OCI archive (`skopeo copy … oci-archive:FILE:NAME`).
    Import {
        /// The archive (tar or tar.gz in OCI image-layout form).
        file: PathBuf,
        /// Name the image this way instead of by the archive's annotations.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the images stored on this board.
    #[command(alias = "ls")]
    List,
}

/// Runs `bramble ctl image …`, writing results to `out`.
pub async fn run(args: ImageArgs, out: &mut dyn Write) -> Result<(), CtlError> {
    if !args.data_dir.is_dir() {
        return Err(CtlError::Usage(format!(
            "no data directory at {}: pass --data-dir (the server's) or set BRAMBLE_DATA_DIR",
            args.data_dir.display()
        )));
    }
    if let ImageCommand::Import { file, .. } = &args.command {
        if !file.is_file() {
            return Err(CtlError::Usage(format!("no archive at {}", file.display())));
        }
    }
    let images = ImageService::new(&args.data_dir, RegistryConfig::default())
        .map_err(|e| CtlError::Usage(e.to_string()))?;
    match args.command {
        ImageCommand::Import { file, name } => {
            let imported = images
                .import_oci_archive(&file, name.as_deref())
                .await
                .map_err(|e| CtlError::Usage(e.to_string()))?;
            for i in imported {
                writeln!(out, "imported {} ({})", i.reference, i.id)?;
            }
        }
        ImageCommand::List => {
            let mut list = images.list().map_err(|e| CtlError::Usage(e.to_string()))?;
            list.sort_by(|a, b| a.reference.cmp(&b.reference));
            out.write_all(table(&list).as_bytes())?;
        }
    }
    Ok(())
}

/// `crictl images` columns: IMAGE, TAG, IMAGE ID (13 hex digits), SIZE.
fn table(images: &[ImageInfo]) -> String {
    let mut text = String::from("IMAGE\tTAG\tIMAGE ID\tSIZE\n");
    for i in images {
        let (repo, tag) = match Reference::parse(&i.reference) {
            Ok(r) => (r.name(), r.tag.unwrap_or_else(|| "<none>".into())),
            Err(_) => (i.reference.clone(), "<none>".into()),
        };
        let id = i.id.trim_start_matches("sha256:");
        let short = id.get(..13).unwrap_or(id);
        text.push_str(&format!("{repo}\t{tag}\t{short}\t{}\n", human_size(i.size)));
    }
    tabwriter::align(&text, tabwriter::TABLE)
}

/// Sizes as crictl prints them (decimal units, three significant digits).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 || unit == 0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_crictl() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_271_000), "4.27MB");
        assert_eq!(human_size(42_710_000), "42.7MB");
        assert_eq!(human_size(427_100_000), "427MB");
    }
}
