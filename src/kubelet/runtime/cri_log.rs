//! CRI-format container log files with size-bounded rotation.
//!
//! Each record is `<RFC 3339 nano UTC timestamp> <stream> <tag> <content>\n`, as containerd's
//! CRI plugin writes them and `kubectl logs` reads them: tag `F` ends a line, `P` marks a
//! piece of a line longer than the 16 KiB line buffer. Rotation follows the kubelet's
//! container log manager: the live file is renamed to `<file>.<YYYYMMDD-hhmmss>` and the
//! oldest rotated files are removed so at most `max_files` files remain.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};

use super::{LogConfig, Result, RuntimeError};

/// containerd's default maximum line size before a line is split into partial records.
const MAX_LINE: usize = 16 * 1024;

/// Which of the container's streams a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// Writes a container's two streams into one CRI log file, rotating it by size.
#[derive(Debug)]
pub struct CriLogWriter {
    config: LogConfig,
    file: File,
    size: u64,
    pending: [Vec<u8>; 2],
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| RuntimeError::io(format!("opening log file {}", path.display()), e))
}

impl CriLogWriter {
    /// Opens (appending to) the log file, creating its directory.
    pub fn open(config: LogConfig) -> Result<Self> {
        if let Some(dir) = config.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        }
        let file = open_append(&config.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(CriLogWriter {
            config,
            file,
            size,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Feeds bytes read from one stream; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    let mut line = std::mem::take(&mut self.pending[stream.index()]);
                    line.extend_from_slice(&data[..newline]);
                    self.write_line(stream, &line)?;
                    data = &data[newline + 1..];
                }
                None => {
                    self.pending[stream.index()].extend_from_slice(data);
                    data = &[];
                }
            }
        }
        // A line longer than the buffer is flushed in partial records, as containerd does.
        while self.pending[stream.index()].len() >= MAX_LINE {
            let rest = self.pending[stream.index()].split_off(MAX_LINE);
            let chunk = std::mem::replace(&mut self.pending[stream.index()], rest);
            self.write_record(stream, "P", &chunk)?;
        }
        Ok(())
    }

    /// Writes what is left of an unterminated line when its stream closes.
    pub fn finish(&mut self, stream: Stream) -> Result<()> {
        let rest = std::mem::take(&mut self.pending[stream.index()]);
        if rest.is_empty() {
            return Ok(());
        }
        self.write_line(stream, &rest)
    }

    fn write_line(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        let mut chunks = line.chunks(MAX_LINE).peekable();
        if chunks.peek().is_none() {
            return self.write_record(stream, "F", b"");
        }
        while let Some(chunk) = chunks.next() {
            let tag = if chunks.peek().is_some() { "P" } else { "F" };
            self.write_record(stream, tag, chunk)?;
        }
        Ok(())
    }

    fn write_record(&mut self, stream: Stream, tag: &str, content: &[u8]) -> Result<()> {
        let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut record = Vec::with_capacity(content.len() + 48);
        record.extend_from_slice(timestamp.as_bytes());
        record.push(b' ');
        record.extend_from_slice(stream.as_str().as_bytes());
        record.push(b' ');
        record.extend_from_slice(tag.as_bytes());
        record.push(b' ');
        record.extend_from_slice(content);
        record.push(b'\n');
        if self.size > 0 && self.size + record.len() as u64 > self.config.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&record)
            .map_err(|e| RuntimeError::io(format!("writing {}", self.config.path.display()), e))?;
        self.size += record.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let path = &self.config.path;
        let stamp = Utc::now().format("%Y%m%d-%H%M%S").to_string();
        let mut target = suffixed(path, &stamp);
        let mut n = 1;
        while target.exists() {
            target = suffixed(path, &format!("{stamp}.{n:03}"));
            n += 1;
        }
        std::fs::rename(path, &target)
            .map_err(|e| RuntimeError::io(format!("rotating {}", path.display()), e))?;
        self.file = open_append(path)?;
        self.size = 0;
        let mut rotated = rotated_files(path);
        let keep = self.config.max_files.saturating_sub(1);
        if rotated.len() > keep {
            let excess = rotated.len() - keep;
            for old in rotated.drain(..excess) {
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(())
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The rotated files of `path`, oldest first (timestamps sort by name).
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect()
    }

    #[test]
    fn lines_carry_stream_and_full_or_partial_tag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut w = CriLogWriter::open(LogConfig::new(&path)).unwrap();
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"lo\n\nlast").unwrap();
        w.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 1]).unwrap();
        w.finish(Stream::Stdout).unwrap();
        let long_tail = format!("stdout F {}", "x".repeat(5));
        assert_eq!(
            records(&path),
            vec![
                "stderr F oops".to_string(),
                "stdout F hello".to_string(),
                "stdout F ".to_string(),
                format!("stdout P last{}", "x".repeat(MAX_LINE - 4)),
                long_tail,
            ]
        );
        let first = std::fs::read_to_string(&path).unwrap();
        let stamp = first.split(' ').next().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok());
        assert!(stamp.ends_with('Z') && stamp.len() == 30, "{stamp}");
    }

    #[test]
    fn rotation_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let config = LogConfig {
            path: path.clone(),
            max_size: 200,
            max_files: 3,
        };
        let mut w = CriLogWriter::open(config).unwrap();
        for i in 0..100 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let rotated = rotated_files(&path);
        assert_eq!(rotated.len(), 2);
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert!(records(&path).last().unwrap().ends_with("line 99"));
        let newest = records(rotated.last().unwrap());
        assert!(newest.iter().all(|r| r.starts_with("stdout F line ")));
    }
}
