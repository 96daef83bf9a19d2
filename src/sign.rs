//! Signing tokens.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::EncodingKey;
use serde::Serialize;

use crate::keys::{Algorithm, VerifyingKey};
use crate::ConfigError;

#[cfg(feature = "aws-lc-rs")]
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;

/// A key that signs tokens with one algorithm, with its `kid` and `typ`.
///
/// It never prints its material.
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    key: Arc<EncodingKey>,
    kid: Option<Arc<str>>,
    typ: Arc<str>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .field("material", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// An HMAC signing key.
    ///
    /// # Errors
    ///
    /// As [`VerifyingKey::hmac`]: a secret shorter than the hash output, or a
    /// non-HMAC algorithm.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        // Same checks as for verification.
        VerifyingKey::hmac(alg, secret.as_ref())?;
        Ok(Self::new(alg, EncodingKey::from_secret(secret.as_ref())))
    }

    /// An RSA private key (PKCS#1 or PKCS#8 PEM) for `RS*`/`PS*`.
    ///
    /// # Errors
    ///
    /// If the PEM is not an RSA private key or `alg` is not an RSA algorithm.
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_rsa_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        crate::keys::check_rsa_size(alg, crate::keys::rsa_modulus_bits(key.as_bytes(), true))?;
        Self::checked(alg, key)
    }

    /// An EC private key (PKCS#8 PEM) for `ES256`/`ES384`.
    ///
    /// # Errors
    ///
    /// If the PEM is not an EC private key for the curve of `alg`.
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_ec_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        Self::checked(alg, key)
    }

    /// An Ed25519 private key (PKCS#8 PEM) for `EdDSA`.
    ///
    /// # Errors
    ///
    /// If the PEM is not an Ed25519 private key.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let alg = Algorithm::EdDSA;
        let key = EncodingKey::from_ed_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        Self::checked(alg, key)
    }

    fn checked(alg: Algorithm, key: EncodingKey) -> Result<Self, ConfigError> {
        let this = Self::new(alg, key);
        // Sign once, so that a key of the wrong kind fails here and not per token.
        this.sign_bytes(b"probe")
            .map_err(|_| ConfigError::AlgorithmMismatch {
                algorithm: alg,
                key: "this",
            })?;
        Ok(this)
    }

    fn new(alg: Algorithm, key: EncodingKey) -> Self {
        Self {
            alg,
            key: Arc::new(key),
            kid: None,
            typ: Arc::from("JWT"),
        }
    }

    /// Sets the `kid` header of the tokens.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets the `typ` header of the tokens (default `JWT`, as PyJWT; RFC 9068
    /// access tokens use `at+jwt`).
    #[must_use]
    pub fn with_typ(mut self, typ: impl Into<Arc<str>>) -> Self {
        self.typ = typ.into();
        self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let signer =
            (DEFAULT_PROVIDER.signer_factory)(&self.alg, &self.key).map_err(|_| SignError)?;
        signer.try_sign(message).map_err(|_| SignError)
    }

    /// Signs `claims` into a compact JWS.
    ///
    /// # Errors
    ///
    /// [`SignError`] if the claims do not serialize to a JSON object or the
    /// crypto backend fails.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SignError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: Algorithm,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
            typ: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.alg,
            kid: self.kid.as_deref(),
            typ: &self.typ,
        })
        .map_err(|_| SignError)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SignError)?;
        if payload.first() != Some(&b'{') {
            return Err(SignError);
        }
        let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 90);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

fn invalid(alg: Algorithm, e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey {
        algorithm: alg,
        reason: e.to_string(),
    }
}

/// Signing a token failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignError;

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to sign the token")
    }
}

impl std::error::Error for SignError {}

/// Signs `claims` with HS256 and `secret`: a shortcut for tests and examples.
///
/// # Errors
///
/// If the secret is under 32 bytes or the claims do not serialize.
pub fn sign_hs256<T: Serialize>(secret: impl AsRef<[u8]>, claims: &T) -> Result<String, SignError> {
    SigningKey::hmac(Algorithm::HS256, secret)
        .map_err(|_| SignError)?
        .sign(claims)
}
