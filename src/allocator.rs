//! The process's allocator, chosen by its command at its first allocation. The long-running
//! `server` and `agent` use mimalloc: per-thread free lists without arena locks, where
//! glibc's `malloc` and `free` took about 15% of the server's CPU in a burst of pod creates
//! and binds. Every other command keeps the system allocator: above all the container
//! supervisors (`bramble runtime`), one per container, which would each pay mimalloc's
//! footprint for no gain.
//!
//! The choice is made once, before anything is allocated, so every block is freed by the
//! allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The global allocator: mimalloc for `server` and `agent`, the system's otherwise.
pub struct ByCommand;

impl ByCommand {
    #[inline]
    fn mimalloc(&self) -> bool {
        match CHOICE.load(Ordering::Relaxed) {
            MIMALLOC => true,
            SYSTEM => false,
            _ => decide(),
        }
    }
}

// SAFETY: every call goes to one allocator for the life of the process (the choice never
// changes once made), and each forwards the caller's layout and pointer unchanged.
unsafe impl GlobalAlloc for ByCommand {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.mimalloc() {
            MiMalloc.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.mimalloc() {
            MiMalloc.alloc_zeroed(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.mimalloc() {
            MiMalloc.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.mimalloc() {
            MiMalloc.realloc(ptr, layout, new_size)
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}

/// Makes the choice at the first allocation, which the main thread makes before any other
/// thread exists; should two threads race here, the first choice stands for both.
#[cold]
fn decide() -> bool {
    let mut buf = [0u8; 512];
    let wanted = long_running(read_cmdline(&mut buf));
    if wanted {
        lazy_arena_commit();
    }
    let choice = if wanted { MIMALLOC } else { SYSTEM };
    match CHOICE.compare_exchange(UNDECIDED, choice, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => wanted,
        Err(made) => made == MIMALLOC,
    }
}

/// The start of `/proc/self/cmdline` (NUL-separated arguments) in `buf`, read without
/// allocating; empty when it cannot be read, which keeps the system allocator.
fn read_cmdline(buf: &mut [u8]) -> &[u8] {
    // SAFETY: the path is a NUL-terminated literal; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/cmdline".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return &[];
    }
    let mut len = 0;
    while len < buf.len() {
        let rest = &mut buf[len..];
        // SAFETY: reads at most `rest.len()` bytes into `rest`, which is valid for writes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    // SAFETY: `fd` is open and ours.
    unsafe { libc::close(fd) };
    &buf[..len]
}

/// Whether the command line runs `server` or `agent`: its first argument that is not an
/// option (nor the value of `--log-format`, the one global option that takes one).
fn long_running(cmdline: &[u8]) -> bool {
    let mut args = cmdline.split(|&b| b == 0).skip(1);
    while let Some(arg) = args.next() {
        if arg == b"--log-format" {
            args.next();
        } else if !arg.starts_with(b"-") {
            return arg == b"server" || arg == b"agent";
        }
    }
    false
}

/// Commits mimalloc's arenas as they are used rather than when they are reserved: eager
/// commit, its default where the system overcommits, took the server's resident memory at
/// start from 15 MiB to 60 MiB. Called before mimalloc's first allocation.
fn lazy_arena_commit() {
    /// `mi_option_arena_eager_commit` in mimalloc v3's `mi_option_t`.
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: mi_option_set only stores the value in mimalloc's option table, and the
    // option is a valid `mi_option_t` of the mimalloc version the crate builds (v3).
    unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_server_and_the_agent_take_mimalloc() {
        let cases: &[(&[u8], bool)] = &[
            (b"bramble\0server\0--data-dir\0/var/lib/bramble\0", true),
            (
                b"/usr/local/bin/bramble\0agent\0--server\0https://a:6443\0",
                true,
            ),
            (b"bramble\0--log-format\0json\0server\0", true),
            (b"bramble\0--log-format=json\0agent\0", true),
            (b"bramble\0runtime\0shim\0--id\0server\0", false),
            (b"bramble\0ctl\0get\0pods\0", false),
            (b"bramble\0--log-format\0server\0", false),
            (b"bramble\0", false),
            (b"", false),
        ];
        for (cmdline, want) in cases {
            assert_eq!(
                long_running(cmdline),
                *want,
                "{}",
                String::from_utf8_lossy(cmdline)
            );
        }
    }

    #[test]
    fn this_process_reads_its_own_command_line() {
        let mut buf = [0u8; 512];
        let cmdline = read_cmdline(&mut buf);
        let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        assert!(!first.is_empty(), "argv[0] of the test binary was not read");
    }
}
