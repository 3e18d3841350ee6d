//! Label and field selectors as they arrive in `?labelSelector=` and `?fieldSelector=`, and
//! label selectors as objects (`matchLabels`/`matchExpressions`), matched against a fixed
//! label set: parsing and matching never panic.
#![no_main]

use bramble::api::selector::{FieldSelector, LabelSelector};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let labels = json!({"app": "web", "tier": "front", "k8s.io/x": ""});
    let labels = labels.as_object().expect("a literal object");
    if let Ok(selector) = LabelSelector::parse(text) {
        let _ = selector.matches(labels);
        let _ = selector.requires_exact_match("app");
    }
    if let Ok(selector) = FieldSelector::parse(text) {
        let _ = selector.matches(|field| (field == "metadata.name").then(|| "web".to_string()));
        let _ = selector.requires_exact_match("spec.nodeName");
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(selector) = LabelSelector::from_label_selector(&value) {
            let _ = selector.matches(labels);
        }
    }
});
