//! Compact JWS with ES256, the only form service account tokens take (RFC 7515 §7.1,
//! RFC 7518 §3.4): `base64url(header) . base64url(claims) . base64url(r || s)`.
//!
//! Decoding checks the shape and the signature before the claims are parsed, and bounds the
//! token's length, so nothing unauthenticated is parsed beyond a small header.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::pki::SigningKey;

/// Longest token looked at; upstream's tokens are about 1 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, or longer than [`MAX_TOKEN_LEN`].
    #[error("not a compact JWS")]
    Malformed,
    /// The header names another algorithm or key.
    #[error("unexpected header: {0}")]
    Header(String),
    /// The signature does not verify with the signing key.
    #[error("invalid signature")]
    Signature,
    /// The claims are not the expected JSON.
    #[error("invalid claims: {0}")]
    Claims(String),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    typ: String,
}

const ALGORITHM: &str = "ES256";

/// Signs `claims` with `key` into a compact JWS.
pub fn encode(claims: &impl Serialize, key: &SigningKey) -> Result<String, JwtError> {
    let header = Header {
        alg: ALGORITHM.into(),
        kid: key.key_id().into(),
        typ: String::new(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| JwtError::Claims(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| JwtError::Claims(e.to_string()))?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(token.as_bytes()).map_err(|_| JwtError::Sign)?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Whether `token` has the shape of a JWS at all (three dot-separated parts), so other
/// bearer tokens are not mistaken for broken JWTs.
pub fn looks_like_jws(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN && token.split('.').count() == 3
}

/// Verifies `token` with `key` and parses its claims.
pub fn decode<C: DeserializeOwned>(token: &str, key: &SigningKey) -> Result<C, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header_bytes).map_err(|e| JwtError::Header(e.to_string()))?;
    if header.alg != ALGORITHM {
        return Err(JwtError::Header(format!("algorithm {:?}", header.alg)));
    }
    if !header.kid.is_empty() && header.kid != key.key_id() {
        return Err(JwtError::Header(format!("key id {:?}", header.kid)));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed)?;
    // the signed input is the first two parts as they were sent, with the dot between
    let signed = token
        .as_bytes()
        .get(..header_b64.len() + 1 + claims_b64.len())
        .ok_or(JwtError::Malformed)?;
    if !key.verify(signed, &signature) {
        return Err(JwtError::Signature);
    }
    let claims = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&claims).map_err(|e| JwtError::Claims(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_signed_token_decodes_to_its_claims() {
        let key = SigningKey::ephemeral();
        let token = encode(&json!({"sub": "system:serviceaccount:ns:sa"}), &key).unwrap();
        assert!(looks_like_jws(&token));
        let claims: Value = decode(&token, &key).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:ns:sa");
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": key.key_id()}));
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let key = SigningKey::ephemeral();
        let token = encode(&json!({"sub": "a"}), &key).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"system:admin"}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(decode::<Value>(&forged, &key), Err(JwtError::Signature));
        let other = SigningKey::ephemeral();
        assert!(matches!(
            decode::<Value>(&token, &other),
            Err(JwtError::Header(_))
        ));
        let none_alg = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let unsigned = format!("{none_alg}.{}.", parts[1]);
        assert!(matches!(
            decode::<Value>(&unsigned, &key),
            Err(JwtError::Header(_))
        ));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let key = SigningKey::ephemeral();
        for token in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "!!!.###.$$$",
            "e30.e30.",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(decode::<Value>(token, &key).is_err(), "{token:?}");
        }
    }
}
