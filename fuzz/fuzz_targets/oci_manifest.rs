//! Image manifests and indexes (OCI and Docker media types) as a registry returns them,
//! and the platform choice made from an index: never a panic, whatever the registry sends.
#![no_main]

use bramble::kubelet::image::manifest::AnyManifest;
use bramble::kubelet::image::platform::Platform;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = AnyManifest::parse(data) else {
        return;
    };
    let _ = manifest.is_index();
    for platform in [
        Platform::host(),
        Platform::linux("arm64", Some("v8")),
        Platform::linux("arm", Some("v6")),
    ] {
        if let Some(descriptor) = manifest.select(&platform) {
            if let Some(p) = &descriptor.platform {
                let _ = p.normalized().display();
                let _ = platform.rank(p);
            }
        }
    }
});
