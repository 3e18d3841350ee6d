//! A container's CPU and memory from its `resources`, as quantities the kubelet converts
//! (`requests.cpu`, `limits.cpu` in millicores, `limits.memory` in bytes).

use k8s_openapi::api::core::v1::Container;

use super::ContainerConfigError;
use crate::kubelet::downward_api::DownwardApiError;
use crate::kubelet::runtime::spec::Resources;
use crate::resources::quantity::Quantity;

fn quantity(
    map: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
    key: &str,
) -> Result<Option<Quantity>, ContainerConfigError> {
    map.and_then(|m| m.get(key))
        .map(|q| Quantity::parse(&q.0).map_err(|_| DownwardApiError::Quantity(q.0.clone()).into()))
        .transpose()
}

pub(super) fn resources(container: &Container) -> Result<Resources, ContainerConfigError> {
    let r = container.resources.as_ref();
    let requests = r.and_then(|r| r.requests.as_ref());
    let limits = r.and_then(|r| r.limits.as_ref());
    Ok(Resources {
        cpu_request_milli: quantity(requests, "cpu")?.map(|q| q.milli_value()),
        cpu_limit_milli: quantity(limits, "cpu")?.map(|q| q.milli_value()),
        memory_limit_bytes: quantity(limits, "memory")?.map(|q| q.value()),
    })
}
