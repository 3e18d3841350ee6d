//! The pseudo-terminal of a container process, handed over as OCI runtimes do it: with
//! `process.terminal: true` the runtime (runc, or libcontainer in the `bramble runtime`
//! helper) opens a pty inside the container, makes its slave the process's controlling
//! terminal and sends the master over the AF_UNIX socket named by `--console-socket`
//! (SCM_RIGHTS), which is how containerd's shim receives it. The master is what
//! `kubectl exec -t` reads and writes; the line discipline in the container turns a typed
//! Ctrl-C into SIGINT for the foreground job, and [`Console::resize`] sets the window size
//! the process reads with `TIOCGWINSZ` (and is told of with SIGWINCH).

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UnixListener;

use super::{Result, RuntimeError};
use crate::pod_streams::TerminalSize;

/// How long a runtime gets to send the master after it was started: runc and libcontainer
/// send it while setting the process up, before it runs.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A listening console socket; its file is removed when dropped.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a new socket in the temporary directory (socket paths are limited to 107
    /// bytes, which a container's record directory may exceed).
    pub fn bind() -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "bramble-console-{}.sock",
            uuid::Uuid::new_v4().simple()
        ));
        let listener = UnixListener::bind(&path)
            .map_err(|e| RuntimeError::io(format!("binding {}", path.display()), e))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The path to pass as `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the runtime to connect and send the pty master.
    pub async fn receive(&self) -> Result<Console> {
        let io_err = |e| RuntimeError::io("receiving the container's terminal", e);
        let (stream, _) = self.listener.accept().await.map_err(io_err)?;
        loop {
            stream.readable().await.map_err(io_err)?;
            match stream.try_io(Interest::READABLE, || {
                receive_fd(stream.as_fd().as_raw_fd())
            }) {
                Ok(Some(fd)) => return Console::new(fd).map_err(io_err),
                Ok(None) => {
                    return Err(RuntimeError::Spec(
                        "the runtime closed the console socket without sending a terminal".into(),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One `recvmsg` on `socket`: the descriptor it carries, `None` at end of stream.
pub fn receive_fd(socket: RawFd) -> io::Result<Option<OwnedFd>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut received = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel has just installed `fd` in this process's table for
                // this message; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    match received {
        Some(fd) => Ok(Some(fd)),
        None if msg.bytes == 0 => Ok(None),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "console socket message without a descriptor",
        )),
    }
}

nix::ioctl_write_ptr_bad!(
    /// `TIOCSWINSZ`: sets a terminal's window size.
    set_window_size,
    libc::TIOCSWINSZ,
    libc::winsize
);

/// The master side of a container process's pseudo-terminal.
#[derive(Debug)]
pub struct Console {
    fd: AsyncFd<OwnedFd>,
}

impl Console {
    /// Wraps a pty master (made non-blocking).
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // SAFETY: an `OwnedFd` stays open, naming the same descriptor, until it is dropped
        // with the `AsyncFd` that owns it.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(Console { fd })
    }

    /// Reads what the process wrote; 0 once every slave descriptor is closed (the kernel
    /// answers EIO then).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.as_raw_fd(), buf).map_err(io::Error::from))
            {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data` as typed input.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sets the terminal's window size; the kernel signals SIGWINCH to its foreground job.
    pub fn resize(&self, size: TerminalSize) -> io::Result<()> {
        let ws = libc::winsize {
            ws_row: size.height,
            ws_col: size.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives for the call.
        unsafe { set_window_size(self.fd.get_ref().as_raw_fd(), &ws) }
            .map(drop)
            .map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::pty::openpty;
    use nix::sys::socket::{sendmsg, ControlMessage};

    #[tokio::test]
    async fn a_master_sent_over_the_socket_reads_writes_and_resizes() {
        let pty = openpty(None, None).unwrap();
        let socket = ConsoleSocket::bind().unwrap();
        let path = socket.path().to_path_buf();
        let master = pty.master;
        // What runc and libcontainer do: connect and send the master with SCM_RIGHTS.
        let sender = std::thread::spawn(move || {
            let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
            let fds = [master.as_raw_fd()];
            sendmsg::<()>(
                s.as_raw_fd(),
                &[io::IoSlice::new(b"/dev/ptmx")],
                &[ControlMessage::ScmRights(&fds)],
                nix::sys::socket::MsgFlags::empty(),
                None,
            )
            .unwrap();
        });
        let console = tokio::time::timeout(RECEIVE_TIMEOUT, socket.receive())
            .await
            .unwrap()
            .unwrap();
        sender.join().unwrap();
        let path = socket.path().to_path_buf();
        drop(socket);
        assert!(!path.exists(), "the socket file is removed");

        console
            .resize(TerminalSize {
                width: 91,
                height: 37,
            })
            .unwrap();
        let size = nix::pty::Winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        nix::ioctl_read_bad!(get_window_size, libc::TIOCGWINSZ, libc::winsize);
        let mut size = size;
        unsafe { get_window_size(pty.slave.as_raw_fd(), &mut size) }.unwrap();
        assert_eq!((size.ws_col, size.ws_row), (91, 37));

        // Typed input reaches the slave; the slave's output (with the line discipline's
        // newline translation) reaches the master.
        console.write_all(b"typed\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(pty.slave.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"typed\n");
        nix::unistd::write(&pty.slave, b"out\n").unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"out\r\n") {
            let n = console.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        // The echo of the typed line comes first.
        assert!(got.starts_with(b"typed\r\n"), "{got:?}");
        drop(pty.slave);
        let mut rest = [0u8; 64];
        loop {
            if console.read(&mut rest).await.unwrap() == 0 {
                break;
            }
        }
    }
}
