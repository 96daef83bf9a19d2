//! Verification keys, each bound to exactly one algorithm (RFC 8725 §3.1).
//!
//! A [`VerifyingKey`] is parsed and prepared once, when it is built: HMAC keys
//! are expanded, public keys are parsed, so that checking a signature on the
//! request path does no key parsing at all.
//!
//! Binding each key to one [`Algorithm`] makes algorithm confusion impossible by
//! construction: an `HS256` token is only ever checked against keys built with
//! [`VerifyingKey::hmac`] for `HS256`, never against the bytes of an RSA public key.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use jsonwebtoken::Algorithm;

use crate::ConfigError;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tower-jwt-auth needs a crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature"
);

/// A key that verifies signatures of one algorithm.
///
/// It never prints its material: `Debug` shows the algorithm and the `kid` only.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    alg: Algorithm,
    verifier: Arc<backend::Verifier>,
}

impl VerifyingKey {
    /// An HMAC key (`HS256`, `HS384` or `HS512`) from a shared secret.
    ///
    /// The FastAPI tutorial's `SECRET_KEY` is used as its UTF-8 bytes, as PyJWT does.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HmacKeyTooShort`] if the secret is shorter than the hash
    /// output (32, 48 or 64 bytes, RFC 7518 §3.2), and
    /// [`ConfigError::AlgorithmMismatch`] if `alg` is not an HMAC algorithm.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => {
                return Err(ConfigError::AlgorithmMismatch {
                    algorithm: alg,
                    key: "an HMAC",
                })
            }
        };
        if secret.len() < min {
            return Err(ConfigError::HmacKeyTooShort {
                algorithm: alg,
                min,
                len: secret.len(),
            });
        }
        Ok(Self::from_verifier(
            alg,
            backend::Verifier::hmac(alg, secret),
        ))
    }

    /// An RSA public key (`RS256/384/512`, `PS256/384/512`) from PEM (PKCS#1 or SPKI).
    ///
    /// # Errors
    ///
    /// If the PEM is not an RSA public key, the key is under 2048 bits, or `alg`
    /// is not an RSA algorithm.
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        if !matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(ConfigError::AlgorithmMismatch {
                algorithm: alg,
                key: "an RSA",
            });
        }
        let key =
            jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        if let jsonwebtoken::DecodingKeyKind::SecretOrDer(der) = key.kind() {
            check_rsa_size(alg, rsa_modulus_bits(der, false))?;
        }
        Ok(Self::from_verifier(
            alg,
            backend::Verifier::public(alg, &key)?,
        ))
    }

    /// An EC public key (`ES256` on P-256, `ES384` on P-384) from SPKI PEM.
    ///
    /// # Errors
    ///
    /// If the PEM is not an EC public key on the curve of `alg`, or `alg` is not
    /// an ECDSA algorithm.
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        if !matches!(alg, Algorithm::ES256 | Algorithm::ES384) {
            return Err(ConfigError::AlgorithmMismatch {
                algorithm: alg,
                key: "an EC",
            });
        }
        let key =
            jsonwebtoken::DecodingKey::from_ec_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        Ok(Self::from_verifier(
            alg,
            backend::Verifier::public(alg, &key)?,
        ))
    }

    /// An Ed25519 public key (`EdDSA`) from SPKI PEM.
    ///
    /// # Errors
    ///
    /// If the PEM is not an Ed25519 public key.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let alg = Algorithm::EdDSA;
        let key =
            jsonwebtoken::DecodingKey::from_ed_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        Ok(Self::from_verifier(
            alg,
            backend::Verifier::public(alg, &key)?,
        ))
    }

    fn from_verifier(alg: Algorithm, verifier: backend::Verifier) -> Self {
        Self {
            kid: None,
            alg,
            verifier: Arc::new(verifier),
        }
    }

    /// Sets the key id that tokens name in their `kid` header.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Checks `signature` over `message` in constant time (for HMAC).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify(self.alg, message, signature)
    }
}

/// RFC 7518 §3.3, §3.5: RSA keys of 2048 bits or more.
pub(crate) fn check_rsa_size(alg: Algorithm, bits: usize) -> Result<(), ConfigError> {
    if bits < 2048 {
        return Err(ConfigError::InvalidKey {
            algorithm: alg,
            reason: format!(
                "the RSA key has {bits} bits; at least 2048 are required (RFC 7518 §3.3)"
            ),
        });
    }
    Ok(())
}

/// The modulus size in bits of a PKCS#1 `RSAPublicKey` (`SEQUENCE { n, e }`) or,
/// with `private`, `RSAPrivateKey` (`SEQUENCE { version, n, ... }`); 0 if the
/// DER cannot be read.
pub(crate) fn rsa_modulus_bits(der: &[u8], private: bool) -> usize {
    fn read_len(b: &[u8]) -> Option<(usize, &[u8])> {
        let (&first, rest) = b.split_first()?;
        if first < 0x80 {
            return Some((first as usize, rest));
        }
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        Some((len, &rest[n..]))
    }
    fn integer(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let b = b.strip_prefix(&[0x02])?;
        let (len, b) = read_len(b)?;
        Some((b.get(..len)?, b.get(len..)?))
    }
    let parse = || -> Option<usize> {
        let b = der.strip_prefix(&[0x30])?;
        let (_, mut b) = read_len(b)?;
        if private {
            b = integer(b)?.1;
        }
        let (n, _) = integer(b)?;
        let n = match n.iter().position(|&x| x != 0) {
            Some(i) => &n[i..],
            None => return Some(0),
        };
        Some(n.len() * 8 - n[0].leading_zeros() as usize)
    };
    parse().unwrap_or(0)
}

fn invalid(alg: Algorithm, e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey {
        algorithm: alg,
        reason: e.to_string(),
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("material", &"[redacted]")
            .finish()
    }
}

/// A set of verification keys, looked up by `kid`.
///
/// A token whose header names a `kid` is checked only against the key with that
/// id; an unknown `kid` is `invalid_token`. A token without `kid` is checked
/// against the keys of its algorithm, in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    by_kid: HashMap<Arc<str>, usize>,
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKid`] if another key has the same `kid`.
    pub fn insert(&mut self, key: VerifyingKey) -> Result<(), ConfigError> {
        if let Some(kid) = &key.kid {
            if self.by_kid.contains_key(kid) {
                return Err(ConfigError::DuplicateKid(kid.to_string()));
            }
            self.by_kid.insert(kid.clone(), self.keys.len());
        }
        self.keys.push(key);
        Ok(())
    }

    /// Adds a key, builder style.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn with(mut self, key: VerifyingKey) -> Result<Self, ConfigError> {
        self.insert(key)?;
        Ok(self)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// Whether any key verifies `alg`: the algorithm allow-list is the set of
    /// the keys' algorithms.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.keys.iter().any(|k| k.alg == alg)
    }

    pub(crate) fn by_kid(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }
}

impl FromIterator<VerifyingKey> for Result<KeySet, ConfigError> {
    fn from_iter<I: IntoIterator<Item = VerifyingKey>>(iter: I) -> Self {
        let mut set = KeySet::new();
        for key in iter {
            set.insert(key)?;
        }
        Ok(set)
    }
}

#[cfg(feature = "aws-lc-rs")]
mod backend {
    //! aws-lc-rs: keys prepared once, no allocation per verification.
    use aws_lc_rs::{hmac, signature as sig};
    use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

    use crate::ConfigError;

    // Kept behind an `Arc`; the size difference does not matter.
    #[allow(clippy::large_enum_variant)]
    pub(super) enum Verifier {
        Hmac(hmac::Key),
        Public(sig::ParsedPublicKey),
    }

    impl Verifier {
        pub(super) fn hmac(alg: Algorithm, secret: &[u8]) -> Self {
            let h = match alg {
                Algorithm::HS384 => hmac::HMAC_SHA384,
                Algorithm::HS512 => hmac::HMAC_SHA512,
                _ => hmac::HMAC_SHA256,
            };
            Self::Hmac(hmac::Key::new(h, secret))
        }

        pub(super) fn public(alg: Algorithm, key: &DecodingKey) -> Result<Self, ConfigError> {
            let params: &'static dyn sig::VerificationAlgorithm = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                Algorithm::EdDSA => &sig::ED25519,
                _ => {
                    return Err(ConfigError::AlgorithmMismatch {
                        algorithm: alg,
                        key: "a public",
                    })
                }
            };
            let DecodingKeyKind::SecretOrDer(der) = key.kind() else {
                return Err(ConfigError::InvalidKey {
                    algorithm: alg,
                    reason: "unsupported key representation".into(),
                });
            };
            let parsed =
                sig::ParsedPublicKey::new(params, der).map_err(|e| ConfigError::InvalidKey {
                    algorithm: alg,
                    reason: format!("{e} (RSA keys must be at least 2048 bits)"),
                })?;
            Ok(Self::Public(parsed))
        }

        pub(super) fn verify(&self, _alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
            match self {
                Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
                Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            }
        }
    }
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
mod backend {
    //! RustCrypto through jsonwebtoken's provider, called directly so that the
    //! process-wide default provider (which panics when jsonwebtoken sees both or
    //! neither backend) is never consulted.
    use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    use jsonwebtoken::{Algorithm, DecodingKey};

    use crate::ConfigError;

    pub(super) struct Verifier(DecodingKey);

    impl Verifier {
        pub(super) fn hmac(_alg: Algorithm, secret: &[u8]) -> Self {
            Self(DecodingKey::from_secret(secret))
        }

        pub(super) fn public(alg: Algorithm, key: &DecodingKey) -> Result<Self, ConfigError> {
            // Build once to report a bad key at construction.
            (DEFAULT_PROVIDER.verifier_factory)(&alg, key).map_err(|e| {
                ConfigError::InvalidKey {
                    algorithm: alg,
                    reason: e.to_string(),
                }
            })?;
            Ok(Self(key.clone()))
        }

        pub(super) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
            match (DEFAULT_PROVIDER.verifier_factory)(&alg, &self.0) {
                Ok(v) => v.verify(message, &signature.to_vec()).is_ok(),
                Err(_) => false,
            }
        }
    }
}
