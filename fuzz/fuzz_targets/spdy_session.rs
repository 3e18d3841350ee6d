//! What `kubectl port-forward` (or anyone past authentication) sends on a SPDY session: the
//! bytes arrive in arbitrary chunks and become frames, header blocks and stream events, or an
//! error that ends the session, never a panic; a header block alone decodes or fails.
#![no_main]

use bramble::spdy::headers::HeaderDecoder;
use bramble::spdy::session::Session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(8).expect("a session");
    for piece in rest.chunks(usize::from(chunk).max(1)) {
        if session.receive(piece).is_err() {
            break;
        }
        let _ = session.streams();
    }
    let _ = HeaderDecoder::default().decode(rest);
});
