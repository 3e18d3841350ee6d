//! Decoding a request body by its media type: JSON, YAML (refused when nested too deep
//! before it is parsed) or Kubernetes protobuf, with upstream's 415 for any other type.

use serde_json::Value;

use super::status::ApiError;

/// Decodes a JSON, YAML or Kubernetes protobuf request body.
pub fn decode(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, ApiError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    let result = match media {
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            super::nesting::check_yaml(bytes)
                .map_err(|e| e.to_string())
                .and_then(|()| serde_yaml_ng::from_slice::<Value>(bytes).map_err(|e| e.to_string()))
        }
        "" | "application/json" | "*/*" => {
            serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())
        }
        super::protobuf::MEDIA_TYPE => {
            return super::protobuf::decode(bytes).map_err(ApiError::from)
        }
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &[
                    "application/json",
                    "application/yaml",
                    super::protobuf::MEDIA_TYPE,
                ],
            ));
        }
    };
    result.map_err(|e| ApiError::bad_request(format!("the request body could not be decoded: {e}")))
}
