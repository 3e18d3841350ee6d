//! Attaching to a running container's own stdio (`kubectl attach`, `kubectl run -it`), as
//! containerd's shim offers it to CRI's `Attach`: the container's supervisor (`shim`) holds
//! the container's output (a terminal's master, or the stdout and stderr pipes) and, for a
//! container with `stdin: true`, the writing end of its stdin, and listens on a socket of
//! its own. Each client connected there gets every later output chunk as a frame
//! (`pod_streams::wire`'s stdout/stderr channels) while the supervisor keeps writing the CRI
//! log; what it sends (after one byte of flags: bit 0 "this client attaches stdin") are
//! stdin and resize frames. An empty stdin frame, or the client's end, ends its stdin; for
//! a `stdinOnce` container the first client's end closes the container's stdin for good, as
//! upstream's `StdinOnce` says. When the container's init exits the supervisor closes every
//! client, which ends their attach. The first client also gets what the container wrote
//! before it came (up to 64 KiB), so `kubectl run -i` shows a command's first output.
//!
//! [`ShimAttachments`] is the supervisor's side (blocking sockets in its `poll` loop);
//! [`connect`] the kubelet's.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::console::set_window_size;
use super::cri_log::Stream;
use super::{Result, RuntimeError};
use crate::pod_streams::wire::{self, Channel, Frame, FrameDecoder};

/// The header flag of a client that attaches stdin.
pub const ATTACH_STDIN: u8 = 1;

/// How long a client may keep the supervisor waiting on a write before it is dropped: the
/// container's output and its log must never wait for a slow reader.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// At most this many clients at once per container.
const MAX_CLIENTS: usize = 16;

/// Output kept for the first client from the container's start: `kubectl run -i` attaches
/// only once the pod runs, and what the container wrote before (a first line, a shell's
/// prompt) would otherwise reach the log but not the user.
const EARLY_OUTPUT: usize = 64 * 1024;

/// The attach socket of container `id` under the runtime's directory: named by a hash of
/// the id, as socket paths are limited to 107 bytes and ids are long.
pub fn socket_path(runtime_root: &Path, id: &str) -> PathBuf {
    let digest = Sha256::digest(id.as_bytes());
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    runtime_root.join("attach").join(format!("{name}.sock"))
}

/// Connects to container `id`'s supervisor; `stdin` says whether this client sends input.
pub async fn connect(runtime_root: &Path, id: &str, stdin: bool) -> Result<tokio::net::UnixStream> {
    use tokio::io::AsyncWriteExt;
    let path = socket_path(runtime_root, id);
    let mut stream = tokio::net::UnixStream::connect(&path)
        .await
        .map_err(|e| RuntimeError::io(format!("attaching to container {id}"), e))?;
    let flags = if stdin { ATTACH_STDIN } else { 0 };
    stream
        .write_all(&[flags])
        .await
        .map_err(|e| RuntimeError::io(format!("attaching to container {id}"), e))?;
    Ok(stream)
}

/// Where attached input goes.
#[derive(Debug)]
pub enum Input {
    /// The writing end of the container's stdin pipe.
    Pipe(File),
    /// The container's terminal (typed input; sizes apply to it too).
    Console(File),
}

struct Client {
    stream: UnixStream,
    decoder: FrameDecoder,
    /// Flags not read yet.
    greeted: bool,
    stdin: bool,
}

/// The supervisor's attach socket and its clients.
pub struct ShimAttachments {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    input: Option<Input>,
    /// The terminal, for resizes (also present after stdin has closed).
    console: Option<OwnedFd>,
    stdin_once: bool,
    /// Frames written before the first client came, for it ([`EARLY_OUTPUT`] bytes at
    /// most); `None` once a client has had them.
    early: Option<Vec<u8>>,
    /// Input the container has not read yet. The input is written without blocking (the
    /// supervisor must keep logging and reaping whatever the container does); while some
    /// is pending, clients are not read, so a fast writer is slowed to the container's pace.
    pending: Vec<u8>,
}

impl ShimAttachments {
    /// Listens at `path` (replacing a stale socket); `input` is where attached stdin goes.
    pub fn bind(
        path: &Path,
        input: Option<Input>,
        console: Option<OwnedFd>,
        stdin_once: bool,
    ) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        }
        let _ = std::fs::remove_file(path);
        if let Some(Input::Pipe(f) | Input::Console(f)) = &input {
            set_nonblocking(f).map_err(|e| RuntimeError::io("attach input", e))?;
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| RuntimeError::io(format!("binding {}", path.display()), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| RuntimeError::io("attach socket", e))?;
        Ok(ShimAttachments {
            listener,
            path: path.to_path_buf(),
            clients: Vec::new(),
            input,
            console,
            stdin_once,
            early: Some(Vec::new()),
            pending: Vec::new(),
        })
    }

    /// Descriptors to poll: the listener, then every client (for reading), or while input
    /// is pending the input (for writing) instead of the clients.
    pub fn poll_fds(&self) -> Vec<libc::pollfd> {
        let poll = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let mut fds = vec![poll(self.listener.as_raw_fd(), libc::POLLIN)];
        match (&self.input, self.pending.is_empty()) {
            (Some(Input::Pipe(f) | Input::Console(f)), false) => {
                fds.push(poll(f.as_raw_fd(), libc::POLLOUT));
            }
            _ => fds.extend(
                self.clients
                    .iter()
                    .map(|c| poll(c.stream.as_raw_fd(), libc::POLLIN)),
            ),
        }
        fds
    }

    /// Handles what `poll` reported on the descriptors of [`Self::poll_fds`].
    pub fn on_ready(&mut self, fds: &[libc::pollfd]) {
        let ready = |fd: i32| fds.iter().any(|p| p.fd == fd && p.revents != 0);
        let mut gone = Vec::new();
        if !self.pending.is_empty() {
            flush(&mut self.input, &mut self.pending);
            // Frames the clients sent while the input was full.
            let console = self.console.as_ref();
            for (i, client) in self.clients.iter_mut().enumerate() {
                let pending = &mut self.pending;
                if !deliver(client, &mut self.input, pending, console, self.stdin_once) {
                    gone.push(i);
                }
            }
        }
        for (i, client) in self.clients.iter_mut().enumerate() {
            if !ready(client.stream.as_raw_fd()) {
                continue;
            }
            let mut buf = [0u8; 16 * 1024];
            match client.stream.read(&mut buf) {
                Ok(0) | Err(_) => gone.push(i),
                Ok(n) => {
                    let mut data = &buf[..n];
                    if !client.greeted {
                        client.greeted = true;
                        client.stdin = data[0] & ATTACH_STDIN != 0;
                        data = &data[1..];
                    }
                    client.decoder.push(data);
                    let console = self.console.as_ref();
                    let pending = &mut self.pending;
                    if !deliver(client, &mut self.input, pending, console, self.stdin_once) {
                        gone.push(i);
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            let client = self.clients.remove(i);
            self.detached(&client);
        }
        if ready(self.listener.as_raw_fd()) {
            while let Ok((stream, _)) = self.listener.accept() {
                if self.clients.len() >= MAX_CLIENTS {
                    continue;
                }
                let mut stream = stream;
                let ok = stream.set_nonblocking(false).is_ok()
                    && stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT)).is_ok()
                    && self
                        .early
                        .take()
                        .map_or(true, |early| stream.write_all(&early).is_ok());
                if ok {
                    self.clients.push(Client {
                        stream,
                        decoder: FrameDecoder::default(),
                        greeted: false,
                        stdin: false,
                    });
                }
            }
        }
    }

    /// A client has gone: a `stdinOnce` container's stdin closes with its first stdin client.
    fn detached(&mut self, client: &Client) {
        if client.stdin && self.stdin_once {
            self.input = None;
            self.pending.clear();
        }
    }

    /// Sends an output chunk to every client, dropping those that cannot take it.
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        let channel = match stream {
            Stream::Stdout => Channel::Stdout,
            Stream::Stderr => Channel::Stderr,
        };
        let frame = wire::encode_frame(channel, data);
        if let Some(early) = &mut self.early {
            if early.len().saturating_add(frame.len()) <= EARLY_OUTPUT {
                early.extend_from_slice(&frame);
            }
        }
        let mut gone = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            if c.stream.write_all(&frame).is_err() {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            let client = self.clients.remove(i);
            self.detached(&client);
        }
    }
}

impl Drop for ShimAttachments {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Applies a client's decoded frames; false when the client must be dropped.
fn deliver(
    client: &mut Client,
    input: &mut Option<Input>,
    pending: &mut Vec<u8>,
    console: Option<&OwnedFd>,
    stdin_once: bool,
) -> bool {
    loop {
        if !pending.is_empty() {
            // The rest waits in the decoder until the container has read.
            return true;
        }
        match client.decoder.next_frame() {
            Ok(Some(Frame::Stdin(data))) if client.stdin => {
                if data.is_empty() {
                    // The client's stdin ended: it stays attached for output only.
                    client.stdin = false;
                    if stdin_once {
                        *input = None;
                    }
                    continue;
                }
                pending.extend_from_slice(&data);
                flush(input, pending);
            }
            Ok(Some(Frame::Resize(size))) => {
                if let Some(fd) = console {
                    let ws = libc::winsize {
                        ws_row: size.height,
                        ws_col: size.width,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: TIOCSWINSZ reads one `winsize`, which lives for the call.
                    let _ = unsafe { set_window_size(fd.as_raw_fd(), &ws) };
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Writes what it can of `pending` to the input without blocking; an input that fails is
/// closed and what was pending for it dropped.
fn flush(input: &mut Option<Input>, pending: &mut Vec<u8>) {
    let Some(Input::Pipe(f) | Input::Console(f)) = input.as_mut() else {
        pending.clear();
        return;
    };
    while !pending.is_empty() {
        match f.write(pending) {
            Ok(n) => {
                pending.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                *input = None;
                pending.clear();
                return;
            }
        }
    }
}

fn set_nonblocking(f: &File) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the supervisor's side until `done` holds, as its poll loop does.
    fn pump_until(a: &mut ShimAttachments, mut done: impl FnMut(&mut ShimAttachments) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done(a) {
            assert!(std::time::Instant::now() < deadline, "timed out");
            let mut fds = a.poll_fds();
            // SAFETY: `fds` is a valid array of pollfd for its length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            a.on_ready(&fds);
        }
    }

    #[test]
    fn clients_get_output_and_feed_stdin_which_closes_after_the_first_with_stdin_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path(), "pod_c_0");
        let (stdin_r, stdin_w) = nix::unistd::pipe().unwrap();
        let input = Some(Input::Pipe(File::from(stdin_w)));
        let mut a = ShimAttachments::bind(&path, input, None, true).unwrap();

        a.broadcast(Stream::Stdout, b"early");
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(&[ATTACH_STDIN]).unwrap();
        client
            .write_all(&wire::encode_frame(Channel::Stdin, b"typed\n"))
            .unwrap();
        pump_until(&mut a, |a| a.clients.first().is_some_and(|c| c.stdin));
        a.broadcast(Stream::Stderr, b"out");
        // What was written before the first client came, then what follows.
        let mut got = [0u8; 18];
        client.read_exact(&mut got).unwrap();
        assert_eq!(
            &got[..10],
            &wire::encode_frame(Channel::Stdout, b"early")[..]
        );
        assert_eq!(&got[10..], &wire::encode_frame(Channel::Stderr, b"out")[..]);

        // The first stdin client's end closes a stdinOnce container's stdin: the pipe
        // reads the typed line, then EOF.
        drop(client);
        pump_until(&mut a, |a| a.clients.is_empty());
        let mut typed = String::new();
        File::from(stdin_r).read_to_string(&mut typed).unwrap();
        assert_eq!(typed, "typed\n");
        drop(a);
        assert!(!path.exists(), "the socket is removed with the supervisor");
    }

    #[test]
    fn input_the_container_does_not_read_never_blocks_the_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path(), "pod_c_1");
        let (stdin_r, stdin_w) = nix::unistd::pipe().unwrap();
        let input = Some(Input::Pipe(File::from(stdin_w)));
        let mut a = ShimAttachments::bind(&path, input, None, false).unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(&[ATTACH_STDIN]).unwrap();
        // Four times what a pipe holds, written by a client the container does not read.
        let chunk = vec![b'x'; 64 * 1024];
        let writer = std::thread::spawn(move || {
            for _ in 0..4 {
                client
                    .write_all(&wire::encode_frame(Channel::Stdin, &chunk))
                    .unwrap();
            }
            client
        });
        pump_until(&mut a, |a| !a.pending.is_empty());
        // Still serving: output goes on while the input is full.
        a.broadcast(Stream::Stdout, b"still here");
        // The container reads at last (without blocking this test's only supervisor loop).
        let mut reader = File::from(stdin_r);
        set_nonblocking(&reader).unwrap();
        let mut total = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while total < 4 * 64 * 1024 {
            assert!(std::time::Instant::now() < deadline, "read {total} bytes");
            let mut fds = a.poll_fds();
            // SAFETY: `fds` is a valid array of pollfd for its length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10) };
            a.on_ready(&fds);
            match reader.read(&mut buf) {
                Ok(n) => {
                    assert!(buf[..n].iter().all(|b| *b == b'x'));
                    total += n;
                }
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            }
        }
        assert_eq!(total, 4 * 64 * 1024);
        drop(writer.join().unwrap());
    }
}
