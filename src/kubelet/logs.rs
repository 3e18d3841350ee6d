//! Reading containers' CRI-format log files for `kubectl logs`, as the kubelet's
//! `ReadLogs` does: each line is `TIMESTAMP STREAM TAG CONTENT` where TAG is `F` (full line)
//! or `P` (partial: the next line continues it). Supports `tailLines`, `sinceSeconds`,
//! `timestamps`, `limitBytes` and `follow` (polling the file, across rotation).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// RFC 3339 timestamp with nanoseconds, as written.
    pub time: &'a str,
    /// Stream.
    pub stream: Stream,
    /// Whether the line continues in the next entry.
    pub partial: bool,
    /// The text, without the trailing newline.
    pub content: &'a str,
}

/// Parses one CRI log line; `None` for malformed lines (skipped, as upstream does).
pub fn parse_line(line: &str) -> Option<CriLine<'_>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let stream = match parts.next()? {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        "P" => true,
        "F" => false,
        _ => return None,
    };
    Some(CriLine {
        time,
        stream,
        partial,
        content: parts.next().unwrap_or(""),
    })
}

/// What to return.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep streaming new lines while the container runs.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
}

/// Renders complete lines from CRI entries: partial entries are joined, each output line
/// ends with `\n`; with `timestamps`, prefixed by the first entry's time.
fn render(entries: &[CriLine<'_>], timestamps: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<(String, String)> = None;
    for e in entries {
        let (time, mut text) = pending
            .take()
            .unwrap_or_else(|| (e.time.to_string(), String::new()));
        text.push_str(e.content);
        if e.partial {
            pending = Some((time, text));
            continue;
        }
        out.push(if timestamps {
            format!("{time} {text}\n")
        } else {
            format!("{text}\n")
        });
    }
    if let Some((time, text)) = pending {
        out.push(if timestamps {
            format!("{time} {text}")
        } else {
            text
        });
    }
    out
}

fn keep(line: &CriLine<'_>, since: Option<DateTime<Utc>>) -> bool {
    match since {
        None => true,
        Some(s) => DateTime::parse_from_rfc3339(line.time)
            .map(|t| t.with_timezone(&Utc) >= s)
            .unwrap_or(true),
    }
}

/// Reads the log files (oldest first) and sends the selected lines to `tx`. With `follow`,
/// keeps reading the last file until `running` says the container stopped or the receiver
/// goes away.
pub async fn stream_logs(
    files: Vec<PathBuf>,
    opts: LogOptions,
    tx: mpsc::Sender<Bytes>,
    running: impl Fn() -> bool,
) -> std::io::Result<()> {
    let mut text = String::new();
    // Where following resumes: exactly what was read of the last file, so a line written
    // after the read is never skipped.
    let mut read_of_last = 0u64;
    for f in &files {
        match tokio::fs::read_to_string(f).await {
            Ok(t) => {
                read_of_last = t.len() as u64;
                text.push_str(&t);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => read_of_last = 0,
            Err(e) => return Err(e),
        }
    }
    let entries: Vec<CriLine<'_>> = text
        .lines()
        .filter_map(parse_line)
        .filter(|l| keep(l, opts.since))
        .collect();
    let mut lines = render(&entries, opts.timestamps);
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut budget = opts.limit_bytes.unwrap_or(usize::MAX);
    for l in lines {
        if !send_limited(&tx, l, &mut budget).await {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }
    let Some(last) = files.last() else {
        return Ok(());
    };
    let mut offset = read_of_last;
    let mut partial = String::new();
    loop {
        let len = tokio::fs::metadata(last)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if len < offset {
            offset = 0; // rotated: the file was replaced by a new, shorter one
        }
        if len > offset {
            let mut f = tokio::fs::File::open(last).await?;
            f.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut reader = BufReader::new(f);
            let mut raw = String::new();
            while reader.read_line(&mut raw).await? > 0 {
                if !raw.ends_with('\n') {
                    break; // a line still being written: read it whole next time
                }
                offset += raw.len() as u64;
                if let Some(e) = parse_line(&raw).filter(|l| keep(l, opts.since)) {
                    partial.push_str(e.content);
                    if !e.partial {
                        let mut line = std::mem::take(&mut partial);
                        line.push('\n');
                        let line = if opts.timestamps {
                            format!("{} {line}", e.time)
                        } else {
                            line
                        };
                        if !send_limited(&tx, line, &mut budget).await {
                            return Ok(());
                        }
                    }
                }
                raw.clear();
            }
        } else if !running() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

async fn send_limited(tx: &mpsc::Sender<Bytes>, line: String, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    let mut bytes = line.into_bytes();
    if bytes.len() > *budget {
        bytes.truncate(*budget);
    }
    *budget -= bytes.len();
    tx.send(Bytes::from(bytes)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-01-01T00:00:01.000000001Z stdout F hello\n\
                       2026-01-01T00:00:02.000000000Z stderr F oops\n\
                       2026-01-01T00:00:03.000000000Z stdout P part\n\
                       2026-01-01T00:00:03.500000000Z stdout F ial\n\
                       garbage line\n\
                       2026-01-01T00:00:04.000000000Z stdout F last\n";

    async fn collect(opts: LogOptions) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, LOG).unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        stream_logs(vec![path], opts, tx, || false).await.unwrap();
        let mut out = String::new();
        while let Some(b) = rx.recv().await {
            out.push_str(&String::from_utf8_lossy(&b));
        }
        out
    }

    #[tokio::test]
    async fn joins_partials_and_skips_garbage() {
        assert_eq!(
            collect(LogOptions::default()).await,
            "hello\noops\npartial\nlast\n"
        );
    }

    #[tokio::test]
    async fn tail_since_timestamps_and_limit() {
        let tail = collect(LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        })
        .await;
        assert_eq!(tail, "partial\nlast\n");
        let since = DateTime::parse_from_rfc3339("2026-01-01T00:00:02Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            collect(LogOptions {
                since: Some(since),
                ..Default::default()
            })
            .await,
            "oops\npartial\nlast\n"
        );
        let ts = collect(LogOptions {
            timestamps: true,
            tail_lines: Some(1),
            ..Default::default()
        })
        .await;
        assert_eq!(ts, "2026-01-01T00:00:04.000000000Z last\n");
        assert_eq!(
            collect(LogOptions {
                limit_bytes: Some(8),
                ..Default::default()
            })
            .await,
            "hello\noo"
        );
    }

    #[tokio::test]
    async fn follow_streams_new_lines_until_the_container_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2026-01-01T00:00:01Z stdout F first\n").unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (tx, mut rx) = mpsc::channel(64);
        let r = running.clone();
        let p = path.clone();
        let task = tokio::spawn(async move {
            stream_logs(
                vec![p],
                LogOptions {
                    follow: true,
                    ..Default::default()
                },
                tx,
                move || r.load(std::sync::atomic::Ordering::SeqCst),
            )
            .await
        });
        assert_eq!(rx.recv().await.unwrap(), "first\n");
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"2026-01-01T00:00:02Z stdout F second\n")
            .unwrap();
        assert_eq!(rx.recv().await.unwrap(), "second\n");
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        task.await.unwrap().unwrap();
        assert!(
            rx.recv().await.is_none(),
            "the stream ends when the container stopped"
        );
    }
}
