//! Response content negotiation: plain JSON or YAML objects, `meta.k8s.io` Tables (what
//! `kubectl get` asks for) and PartialObjectMetadata.

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The object(s) as JSON.
    Json,
    /// The object(s) as YAML.
    Yaml,
    /// A `Table` of `meta.k8s.io/{version}`.
    Table(&'static str),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` of `meta.k8s.io/{version}`.
    Metadata(&'static str),
}

/// Picks the first media type in `Accept` that the server can produce, in the client's
/// order; `None` when none is acceptable (406).
pub fn output(accept: Option<&str>) -> Option<Output> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Output::Json);
    };
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let (mut as_, mut g, mut v) = ("", "", "");
        for p in parts {
            match p.split_once('=') {
                Some(("as", x)) => as_ = x,
                Some(("g", x)) => g = x,
                Some(("v", x)) => v = x,
                _ => {}
            }
        }
        let version = match v {
            "v1" => "v1",
            "v1beta1" => "v1beta1",
            _ => "",
        };
        let json_like = matches!(media, "application/json" | "application/*" | "*/*");
        match (json_like, as_, g) {
            (true, "Table", "meta.k8s.io") if !version.is_empty() => {
                return Some(Output::Table(version))
            }
            (true, "PartialObjectMetadata" | "PartialObjectMetadataList", "meta.k8s.io")
                if !version.is_empty() =>
            {
                return Some(Output::Metadata(version))
            }
            (true, "", _) => return Some(Output::Json),
            _ => {}
        }
        if as_.is_empty() && matches!(media, "application/yaml" | "application/x-yaml") {
            return Some(Output::Yaml);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(output(Some(a)), Some(Output::Table("v1")));
    }

    #[test]
    fn falls_back_in_client_order() {
        assert_eq!(
            output(Some(
                "application/vnd.kubernetes.protobuf, application/json"
            )),
            Some(Output::Json)
        );
        assert_eq!(output(Some("application/yaml")), Some(Output::Yaml));
        assert_eq!(output(None), Some(Output::Json));
        assert_eq!(output(Some("application/vnd.kubernetes.protobuf")), None);
        assert_eq!(
            output(Some("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io,application/json")),
            Some(Output::Json)
        );
    }
}
