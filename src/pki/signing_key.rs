//! The key that signs service account tokens (`service-account.key` in the PKI directory,
//! upstream's `--service-account-signing-key-file`): ECDSA P-256, so tokens are ES256 JWTs.
//!
//! The key is made on the server's first start and kept: every token issued since stays
//! valid across restarts, and a second server given a copy of the PKI directory verifies
//! the first one's tokens. The key id is upstream's: the unpadded base64url SHA-256 of the
//! public key's DER `SubjectPublicKeyInfo`.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rcgen::KeyPair;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};

use super::{read_optional, write, PkiError, PRIVATE_MODE};

/// File name of the token signing key inside the PKI directory.
pub const SIGNING_KEY_FILE: &str = "service-account.key";

/// The token signing key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
    public_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads the key from `dir`, making it on first use.
    pub fn load_or_create(dir: &Path) -> Result<SigningKey, PkiError> {
        let path = dir.join(SIGNING_KEY_FILE);
        let key = match read_optional(&path)? {
            Some(pem) => KeyPair::from_pem(&pem)?,
            None => {
                let key = KeyPair::generate()?;
                write(&path, key.serialize_pem().as_bytes(), PRIVATE_MODE)?;
                tracing::info!(path = %path.display(), "created the service account token signing key");
                key
            }
        };
        Self::from_key_pair(&key)
    }

    fn from_key_pair(key: &KeyPair) -> Result<SigningKey, PkiError> {
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::InvalidCertificate(format!(
                "{SIGNING_KEY_FILE} must be an ECDSA P-256 key, found {:?}",
                key.algorithm()
            )));
        }
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key.serialized_der(), &rng)
                .map_err(|e| PkiError::InvalidCertificate(format!("{SIGNING_KEY_FILE}: {e}")))?;
        let public_der = key.public_key_der();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public_der);
        Ok(SigningKey {
            pair,
            rng,
            key_id: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            public_der,
        })
    }

    /// A fresh key that is never written anywhere, for tests.
    #[cfg(test)]
    pub fn ephemeral() -> SigningKey {
        let key = KeyPair::generate().expect("generating a P-256 key");
        Self::from_key_pair(&key).expect("a generated P-256 key loads")
    }

    /// The key id tokens name in their `kid` header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The public key's curve point (uncompressed, 65 bytes), for a JWK's `x` and `y`.
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The ES256 signature of `message`: `r || s`, 64 bytes, as JWS wants it.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| PkiError::InvalidCertificate("signing a token failed".into()))
    }

    /// Whether `signature` is this key's ES256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.public_point())
            .verify(message, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_kept_and_signs_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        let again = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let sig = first.sign(b"header.claims").unwrap();
        assert_eq!(sig.len(), 64);
        assert!(again.verify(b"header.claims", &sig));
        assert!(!again.verify(b"header.claimz", &sig));
        assert!(!SigningKey::ephemeral().verify(b"header.claims", &sig));
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        std::fs::write(dir.path().join(SIGNING_KEY_FILE), ed.serialize_pem()).unwrap();
        let err = SigningKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("ECDSA P-256"), "{err}");
    }
}
