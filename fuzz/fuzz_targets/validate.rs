//! What the API does to an object of every served kind before storing it: typed decoding,
//! defaulting, create/update preparation, validation, graceful-deletion periods, field
//! selector labels and the table row kubectl prints, plus `generateName`. One byte picks the
//! kind, two more a requested grace period; the rest is the object's JSON.
#![no_main]

use bramble::api::registry::meta;
use bramble::resources::RESOURCES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, grace_hi, grace_lo, json @ ..] = data else {
        return;
    };
    let Ok(obj) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let kind = RESOURCES[usize::from(*pick) % RESOURCES.len()];
    let strategy = kind.strategy;
    if let Some(prefix) = obj.pointer("/metadata/generateName").and_then(|v| v.as_str()) {
        let _ = meta::generate_name(prefix);
    }
    let Ok(decoded) = strategy.decode(obj) else {
        return;
    };
    let mut new = decoded.object;
    strategy.default(&mut new);
    strategy.prepare_for_create(&mut new);
    let _ = strategy.validate(&new);
    let old = new.clone();
    strategy.prepare_for_update(&mut new, &old);
    let _ = strategy.validate_update(&new, &old);
    strategy.prepare_for_status_update(&mut new, &old);
    // A requested period from the whole i64 range, extremes included.
    let requested = i64::from(i16::from_be_bytes([*grace_hi, *grace_lo])).wrapping_mul(1 << 48);
    let _ = strategy.grace_period(&new, Some(requested));
    let _ = strategy.grace_period(&new, None);
    let _ = strategy.holds_deletion(&new);
    strategy.mark_deleting(&mut new);
    for field in ["spec.nodeName", "status.phase", "type", "involvedObject.name"] {
        let _ = strategy.field_label(&new, field);
    }
    let _ = strategy.node_of(&new);
    let _ = (kind.printer.row)(&new, chrono::Utc::now());
});
