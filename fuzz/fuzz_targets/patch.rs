//! The three patch formats kubectl sends (JSON patch, JSON merge patch, strategic merge
//! patch with a Pod's merge keys) applied to a fuzzed original object. Input: one byte picks
//! the format, then the original and the patch separated by the first NUL byte.
#![no_main]

use bramble::api::patch::{self, PatchType};
use bramble::resources::RESOURCES;
use libfuzzer_sys::fuzz_target;

const TYPES: [PatchType; 3] = [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(split) = rest.iter().position(|&b| b == 0) else {
        return;
    };
    let (original, patch_bytes) = (&rest[..split], &rest[split + 1..]);
    let Ok(original) = serde_json::from_slice::<serde_json::Value>(original) else {
        return;
    };
    let kind = RESOURCES[usize::from(pick >> 2) % RESOURCES.len()];
    let patch_type = TYPES[usize::from(pick) % TYPES.len()];
    let _ = patch::apply(patch_type, kind.patch_schema, &original, patch_bytes);
});
