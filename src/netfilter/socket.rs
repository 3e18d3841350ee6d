//! The nf_tables netlink socket: opened in the calling thread's network namespace or in the
//! one a namespace file names (a socket keeps the namespace it was created in, so it can be
//! used from any thread afterwards), and [`NfSocket::commit`], which sends a transaction as
//! one batch and reads the kernel's verdict on it.
//!
//! Like `nft`, messages do not ask for acknowledgements: the kernel processes the whole batch
//! inside the `sendmsg` call and answers only the messages it refused, so a batch of tens of
//! thousands of messages produces no replies when it succeeds, and every error reply is queued
//! by the time `sendmsg` returns. Error replies are capped to the refused message's header
//! (NETLINK_CAP_ACK), so a failing large batch does not flood the receive buffer; if it
//! overflows anyway, the first errors, which name the cause, are still read.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Instant;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

use super::attr::parse_attrs;
use super::error::{Error, Result};
use super::transaction::Transaction;
use super::uapi::{
    NLMSGERR_ATTR_MSG, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};

/// Room left in the send buffer above the batch (the kernel refuses a message longer than
/// the buffer less 32 bytes).
const SNDBUF_SLACK: usize = 64 * 1024;

/// Replies are error messages of at most a few hundred bytes each.
const RECV_BUFFER: usize = 64 * 1024;

/// A netlink socket speaking to nf_tables.
#[derive(Debug)]
pub struct NfSocket {
    socket: Socket,
    sndbuf: usize,
}

fn socket_err(action: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Socket { action, source }
}

fn nix_err(action: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Socket {
        action,
        source: io::Error::from(e),
    }
}

/// A refusal read back from the kernel: the sequence number of the refused message.
struct Refusal {
    seq: u32,
    errno: i32,
    detail: Option<String>,
}

impl NfSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(socket_err("open"))?;
        socket.bind_auto().map_err(socket_err("bind"))?;
        // Extended acks carry the kernel's reason text; capped acks keep error replies small.
        // Both are optional refinements on kernels that lack them.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        let sndbuf =
            getsockopt(&socket, sockopt::SndBuf).map_err(nix_err("read the send buffer size"))?;
        Ok(NfSocket { socket, sndbuf })
    }

    /// Opens a socket in the network namespace of the file at `netns` (a bind-mounted
    /// namespace such as `/run/netns/NAME`, or `/proc/PID/ns/net`), from a short-lived thread
    /// so no thread of the caller changes namespace.
    pub fn open_in(netns: &Path) -> Result<Self> {
        let path = netns.to_path_buf();
        let ns_err = |source: io::Error| Error::Netns {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(&path).map_err(ns_err)?;
        let opened = std::thread::Builder::new()
            .name("bramble-nft-netns".into())
            .spawn(move || -> std::result::Result<NfSocket, Error> {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
                    path: path.display().to_string(),
                    source: io::Error::from(e),
                })?;
                NfSocket::open()
            })
            .map_err(|e| Error::Netns {
                path: netns.display().to_string(),
                source: e,
            })?
            .join()
            .map_err(|_| Error::Netns {
                path: netns.display().to_string(),
                source: io::Error::other("the thread opening the socket panicked"),
            })?;
        opened
    }

    /// Sends `tx` as one batch; the kernel applies all of it or, on any refusal, none of it.
    /// The error names the first refused message and the kernel's reason.
    pub fn commit(&mut self, tx: &Transaction) -> Result<()> {
        if let Some(why) = tx.invalid() {
            return Err(Error::Invalid(why));
        }
        if tx.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let batch = tx.to_batch();
        self.reserve_send_buffer(batch.len())?;
        let sent = self
            .socket
            .send(&batch, 0)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EMSGSIZE) => Error::Invalid(format!(
                    "a transaction of {} bytes does not fit the socket's send buffer of {} bytes",
                    batch.len(),
                    self.sndbuf
                )),
                _ => Error::Socket {
                    action: "send the transaction",
                    source: e,
                },
            })?;
        if sent != batch.len() {
            return Err(Error::Socket {
                action: "send the transaction",
                source: io::Error::other(format!("sent {sent} of {} bytes", batch.len())),
            });
        }
        let (refusals, overflowed) = self.drain_replies()?;
        tracing::debug!(
            messages = tx.len(),
            bytes = batch.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            refusals = refusals.len(),
            "nftables transaction sent"
        );
        let first = refusals.iter().min_by_key(|r| r.seq);
        match first {
            None if overflowed => Err(Error::Rejected {
                op: "applying the transaction".into(),
                source: io::Error::from_raw_os_error(libc::ENOBUFS),
                detail: Some("the kernel's error replies overflowed the receive buffer".into()),
                others: 0,
            }),
            None => Ok(()),
            Some(r) => {
                let op = match r.seq {
                    0 => "starting the transaction".to_string(),
                    seq => usize::try_from(seq)
                        .ok()
                        .and_then(|s| tx.describe(s - 1))
                        .unwrap_or_else(|| "ending the transaction".to_string()),
                };
                Err(Error::Rejected {
                    op,
                    source: io::Error::from_raw_os_error(r.errno),
                    detail: r.detail.clone(),
                    others: refusals.len() - 1,
                })
            }
        }
    }

    /// Makes the send buffer hold `len` bytes, as `nft` does for large batches: with
    /// SO_SNDBUFFORCE (CAP_NET_ADMIN, which changing nftables needs anyway), else up to the
    /// system's `wmem_max`.
    fn reserve_send_buffer(&mut self, len: usize) -> Result<()> {
        let want = len.saturating_add(SNDBUF_SLACK);
        if want <= self.sndbuf {
            return Ok(());
        }
        // The kernel doubles the value it is given; ask for half, bounded by what an int holds.
        let ask = i32::try_from(want / 2 + 1).unwrap_or(i32::MAX) as usize;
        if setsockopt(&self.socket, sockopt::SndBufForce, &ask).is_err() {
            setsockopt(&self.socket, sockopt::SndBuf, &ask)
                .map_err(nix_err("enlarge the send buffer"))?;
        }
        self.sndbuf = getsockopt(&self.socket, sockopt::SndBuf)
            .map_err(nix_err("read the send buffer size"))?;
        Ok(())
    }

    /// Reads every reply queued for the batch without waiting: the refusals, and whether some
    /// were lost to a full receive buffer.
    fn drain_replies(&mut self) -> Result<(Vec<Refusal>, bool)> {
        let mut refusals = Vec::new();
        let mut overflowed = false;
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let n = match self.socket.recv(&mut &mut buf[..], libc::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    overflowed = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Socket {
                        action: "read the kernel's replies",
                        source: e,
                    })
                }
            };
            parse_replies(&buf[..n.min(buf.len())], &mut refusals);
        }
        Ok((refusals, overflowed))
    }
}

/// Collects the refusals among the netlink messages of one datagram.
fn parse_replies(mut data: &[u8], refusals: &mut Vec<Refusal>) {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let flags = u16::from_ne_bytes([data[6], data[7]]);
        let seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
        if len < NLMSG_HDRLEN || len > data.len() {
            return;
        }
        let body = &data[NLMSG_HDRLEN..len];
        if kind == NLMSG_ERROR && body.len() >= 4 {
            let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
            if code != 0 {
                let detail = extended_ack_text(body, flags);
                refusals.push(Refusal {
                    seq,
                    errno: code.checked_neg().unwrap_or(libc::EINVAL),
                    detail,
                });
            }
        } else if kind == NLMSG_DONE {
            return;
        }
        data = data.get(super::attr::align(len)..).unwrap_or(&[]);
    }
}

/// The kernel's reason text of an error reply (NLMSGERR_ATTR_MSG), if it sent one.
fn extended_ack_text(body: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // After the error code comes the refused message: its header only when capped.
    let request = body.get(4..)?;
    let request_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(request.get(..4)?.try_into().ok()?) as usize
    };
    let tlvs = request.get(super::attr::align(request_len)..)?;
    parse_attrs(tlvs)
        .find(|(kind, _)| *kind == NLMSGERR_ATTR_MSG)
        .map(|(_, v)| {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        })
}
