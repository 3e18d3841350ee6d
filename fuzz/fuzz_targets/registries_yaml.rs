//! `registries.yaml` (k3s' mirror, rewrite and auth file) and image pull secrets
//! (`.dockerconfigjson`): parsing and endpoint resolution for a few image names never panic.
//! A rewrite rule is a regular expression from the file: it must not run away either.
#![no_main]

use bramble::kubelet::image::registries::{PullSecrets, RegistryConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = RegistryConfig::parse(text) {
            for (registry, repository) in [
                ("docker.io", "library/busybox"),
                ("registry.local:5000", "team/app"),
                ("ghcr.io", "a/b/c"),
            ] {
                for endpoint in config.endpoints(registry, repository) {
                    let _ = endpoint.url("manifests", "latest");
                }
                let _ = config.host_config(registry, registry);
            }
        }
    }
    if let Ok(secrets) = PullSecrets::parse(&[data.to_vec()]) {
        let _ = secrets.lookup("docker.io", "library/busybox");
    }
});
