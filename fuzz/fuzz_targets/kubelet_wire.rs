//! What a kubelet port sends back to the API server for `kubectl exec` (framed stdout,
//! stderr and exit code) and the paths and queries the kubelet port parses: frames arrive
//! in arbitrary chunks and decode to frames or an error, never a panic.
#![no_main]

use bramble::api::kubelet_wire::{
    parse_exec_query, parse_port_forward, parse_target, FrameDecoder,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::default();
    for piece in rest.chunks(usize::from(chunk).max(1)) {
        decoder.push(piece);
        while let Ok(Some(_)) = decoder.next_frame() {}
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        let _ = parse_target(path, "/containerLogs/");
        let _ = parse_target(path, "/exec/");
        let _ = parse_exec_query(Some(query));
        let _ = parse_port_forward(path, Some(query));
    }
});
