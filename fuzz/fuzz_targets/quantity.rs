//! Resource quantities (`500m`, `1Gi`, `1e3`, …) as pods, claims and nodes carry them:
//! parsing and every conversion never panic or overflow.
#![no_main]

use bramble::resources::quantity::Quantity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Quantity::parse(text) {
        let _ = q.value();
        let _ = q.milli_value();
        let _ = q.is_negative();
    }
});
