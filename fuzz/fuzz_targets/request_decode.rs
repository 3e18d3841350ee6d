//! Request bodies as the API server decodes them: JSON, YAML and Kubernetes protobuf. The
//! first byte picks the media type; whatever the rest holds, decoding returns a value or an
//! error and never panics, overflows the stack or runs away.
#![no_main]

use bramble::api::body;
use libfuzzer_sys::fuzz_target;

const MEDIA: [&str; 4] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let media = MEDIA[usize::from(pick) % MEDIA.len()];
    let _ = body::decode(Some(media), bytes);
});
