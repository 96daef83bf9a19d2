//! JSON Web Keys (RFC 7517): public keys to and from [`VerifyingKey`], and JWK Sets.
//!
//! A [`Jwk`] turns into a [`VerifyingKey`] bound to exactly one algorithm: the
//! JWK's `alg` when it has one, or the one its key type implies (`RS256` for an
//! RSA key without `alg`, `ES256` for P-256, `ES384` for P-384, `EdDSA` for
//! Ed25519). Keys meant for encryption (`use` other than `sig`, `key_ops`
//! without `verify`), unknown key types and curves, and RSA keys under 2048 bits
//! are refused with a [`JwkError`] that says why.
//!
//! A [`JwkSet`] parses a whole document leniently: a key that cannot be used is
//! skipped with its reason, and the others still load.
//!
//! ```
//! use tower_jwt_auth::jwk::JwkSet;
//!
//! let json = br#"{"keys": [
//!     {"kty": "OKP", "crv": "Ed25519", "kid": "ed1",
//!      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
//!     {"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"}
//! ]}"#;
//! let (keys, skipped) = JwkSet::from_json(json)?.to_key_set();
//! assert_eq!(keys.len(), 1);
//! assert_eq!(skipped.len(), 1);
//! assert_eq!(skipped[0].kid(), Some("k1"));
//! # Ok::<(), tower_jwt_auth::jwk::JwkError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{Algorithm, KeySet, VerifyingKey};
use crate::ConfigError;

/// The most keys [`JwkSet::to_key_set`] loads from one set; later ones are skipped.
pub const MAX_KEYS_PER_SET: usize = 100;

/// Why a JWK or a JWK Set could not be used.
///
/// The message names the problem (a key type, a curve, a missing member), never
/// key material.
#[derive(Clone, PartialEq, Eq)]
pub struct JwkError {
    kind: JwkErrorKind,
    message: Cow<'static, str>,
}

/// The class of a [`JwkError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwkErrorKind {
    /// Not a JWK (Set): not JSON, not an object, a member missing or of the wrong type.
    Malformed,
    /// A key type, curve or algorithm this crate does not verify with.
    Unsupported,
    /// The key is for another use than verifying signatures (`use`, `key_ops`).
    NotForSignatures,
    /// The key material is invalid: bad base64url, a point not on the curve, an
    /// RSA modulus under 2048 bits, an `alg` that does not fit the key type.
    InvalidKey,
}

impl JwkError {
    fn new(kind: JwkErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(JwkErrorKind::Malformed, message)
    }

    fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(JwkErrorKind::Unsupported, message)
    }

    fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(JwkErrorKind::InvalidKey, message)
    }

    /// The class of the error.
    pub fn kind(&self) -> JwkErrorKind {
        self.kind
    }
}

impl fmt::Debug for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwkError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JwkError {}

impl From<ConfigError> for JwkError {
    fn from(e: ConfigError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// One JSON Web Key (RFC 7517 §4), public members only.
///
/// Private members (`d`, `p`, `q`, ...) are never read nor written. A symmetric
/// (`oct`) key's `k` is kept for [`verifying_key`](Self::verifying_key) but never
/// printed by `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Jwk");
        d.field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg);
        if let Some(crv) = &self.crv {
            d.field("crv", crv);
        }
        if self.k.is_some() {
            d.field("k", &"[redacted]");
        }
        d.finish_non_exhaustive()
    }
}

impl Jwk {
    /// Parses one JWK from JSON.
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::Malformed`] if the JSON is not a JWK object.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        serde_json::from_slice(json).map_err(|e| JwkError::malformed(format!("not a JWK: {e}")))
    }

    /// The JWK as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JWK serializes")
    }

    /// An RSA public key from its modulus and public exponent (unsigned big-endian).
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::InvalidKey`] if `alg` is not an RSA algorithm.
    pub fn rsa(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<Self, JwkError> {
        if !matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(JwkError::invalid(format!(
                "{alg:?} is not an RSA algorithm"
            )));
        }
        Ok(Self {
            kty: "RSA".into(),
            alg: Some(alg_name(alg).into()),
            n: Some(URL_SAFE_NO_PAD.encode(strip_zeros(n))),
            e: Some(URL_SAFE_NO_PAD.encode(strip_zeros(e))),
            use_: Some("sig".into()),
            ..Self::default()
        })
    }

    /// An EC public key (`ES256` on P-256, `ES384` on P-384) from its coordinates.
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::InvalidKey`] if `alg` is not `ES256`/`ES384` or a coordinate
    /// is not the curve's size.
    pub fn ec(alg: Algorithm, x: &[u8], y: &[u8]) -> Result<Self, JwkError> {
        let (crv, size) = match alg {
            Algorithm::ES256 => ("P-256", 32),
            Algorithm::ES384 => ("P-384", 48),
            _ => return Err(JwkError::invalid(format!("{alg:?} is not an EC algorithm"))),
        };
        if x.len() != size || y.len() != size {
            return Err(JwkError::invalid(format!(
                "{crv} coordinates must be {size} bytes"
            )));
        }
        Ok(Self {
            kty: "EC".into(),
            crv: Some(crv.into()),
            alg: Some(alg_name(alg).into()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            use_: Some("sig".into()),
            ..Self::default()
        })
    }

    /// An Ed25519 public key (`EdDSA`).
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::InvalidKey`] if `x` is not 32 bytes.
    pub fn ed25519(x: &[u8]) -> Result<Self, JwkError> {
        if x.len() != 32 {
            return Err(JwkError::invalid("Ed25519 public keys are 32 bytes"));
        }
        Ok(Self {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            alg: Some("EdDSA".into()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            use_: Some("sig".into()),
            ..Self::default()
        })
    }

    /// Sets the key id.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key type (`RSA`, `EC`, `OKP`, `oct`, ...).
    pub fn kty(&self) -> &str {
        &self.kty
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `alg` member, if any.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// The curve (`crv`), for EC and OKP keys.
    pub fn crv(&self) -> Option<&str> {
        self.crv.as_deref()
    }

    /// Whether the key is symmetric (`oct`).
    pub fn is_symmetric(&self) -> bool {
        self.kty == "oct"
    }

    /// The one algorithm this key verifies: its `alg`, or the one its type implies.
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::Unsupported`] for an unknown key type, curve or algorithm,
    /// [`JwkErrorKind::InvalidKey`] for an `alg` that does not fit the key type,
    /// and [`JwkErrorKind::NotForSignatures`] for an encryption key.
    pub fn algorithm(&self) -> Result<Algorithm, JwkError> {
        self.algorithm_or(None)
    }

    /// As [`algorithm`](Self::algorithm), with `rsa_default` for an RSA key
    /// without `alg` (instead of `RS256`).
    fn algorithm_or(&self, rsa_default: Option<Algorithm>) -> Result<Algorithm, JwkError> {
        if let Some(u) = self.use_.as_deref() {
            if u != "sig" {
                return Err(JwkError::new(
                    JwkErrorKind::NotForSignatures,
                    format!("the key's use is {u:?}, not \"sig\""),
                ));
            }
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return Err(JwkError::new(
                    JwkErrorKind::NotForSignatures,
                    "the key's key_ops lack \"verify\"",
                ));
            }
        }
        let declared = match self.alg.as_deref() {
            None => None,
            Some(name) => Some(parse_alg(name).ok_or_else(|| {
                JwkError::unsupported(format!("unsupported algorithm {:?}", bounded(name)))
            })?),
        };
        let implied: &[Algorithm] = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            ("EC", Some("P-256")) => &[Algorithm::ES256],
            ("EC", Some("P-384")) => &[Algorithm::ES384],
            ("OKP", Some("Ed25519")) => &[Algorithm::EdDSA],
            ("oct", _) => &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            ("EC" | "OKP", Some(crv)) => {
                return Err(JwkError::unsupported(format!(
                    "unsupported {} curve {:?}",
                    self.kty,
                    bounded(crv)
                )))
            }
            ("EC" | "OKP", None) => {
                return Err(JwkError::malformed(format!(
                    "an {} key needs crv",
                    self.kty
                )))
            }
            (kty, _) => {
                return Err(JwkError::unsupported(format!(
                    "unsupported key type {:?}",
                    bounded(kty)
                )))
            }
        };
        match declared {
            Some(alg) if implied.contains(&alg) => Ok(alg),
            Some(alg) => Err(JwkError::invalid(format!(
                "alg {alg:?} does not fit a key of type {}",
                self.kty
            ))),
            None if self.kty == "oct" => Err(JwkError::malformed("an oct key needs alg")),
            None => match rsa_default {
                Some(alg) if self.kty == "RSA" && implied.contains(&alg) => Ok(alg),
                Some(alg) if self.kty == "RSA" => Err(JwkError::invalid(format!(
                    "{alg:?} is not an RSA algorithm"
                ))),
                _ => Ok(implied[0]),
            },
        }
    }

    /// The verifying key, bound to [`algorithm`](Self::algorithm) and carrying the `kid`.
    ///
    /// # Errors
    ///
    /// As [`algorithm`](Self::algorithm), plus [`JwkErrorKind::Malformed`] for a
    /// missing member and [`JwkErrorKind::InvalidKey`] for bad key material or an
    /// RSA modulus under 2048 bits.
    pub fn verifying_key(&self) -> Result<VerifyingKey, JwkError> {
        self.verifying_key_or(None)
    }

    /// As [`verifying_key`](Self::verifying_key), but an RSA key without `alg` is
    /// bound to `rsa_alg` instead of `RS256` (for providers that sign with PS256
    /// and publish their keys without `alg`). A key with `alg` keeps its own.
    ///
    /// # Errors
    ///
    /// As [`verifying_key`](Self::verifying_key), and if `rsa_alg` is not an RSA
    /// algorithm while the key is RSA without `alg`.
    pub fn verifying_key_with_rsa_default(
        &self,
        rsa_alg: Algorithm,
    ) -> Result<VerifyingKey, JwkError> {
        self.verifying_key_or(Some(rsa_alg))
    }

    fn verifying_key_or(&self, rsa_default: Option<Algorithm>) -> Result<VerifyingKey, JwkError> {
        let alg = self.algorithm_or(rsa_default)?;
        let key = match self.kty.as_str() {
            "RSA" => {
                let n = self.member("n", self.n.as_deref())?;
                let e = self.member("e", self.e.as_deref())?;
                let (n, e) = (strip_zeros(&n), strip_zeros(&e));
                let bits = n
                    .first()
                    .map_or(0, |&b| n.len() * 8 - b.leading_zeros() as usize);
                if bits < 2048 {
                    // Checked here too: not every crypto backend refuses a small
                    // modulus when the key is parsed.
                    return Err(JwkError::invalid(format!(
                        "the RSA modulus has {bits} bits; RSA keys must be at least 2048 bits"
                    )));
                }
                if bits > 8192 {
                    return Err(JwkError::invalid("RSA modulus over 8192 bits"));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err(JwkError::invalid("invalid RSA public exponent"));
                }
                let der = der_seq(&[der_uint(n), der_uint(e)]);
                VerifyingKey::rsa_pem(alg, pem("RSA PUBLIC KEY", &der))?
            }
            "EC" => {
                let x = self.member("x", self.x.as_deref())?;
                let y = self.member("y", self.y.as_deref())?;
                let (size, curve_oid): (usize, &[u8]) = match alg {
                    Algorithm::ES256 => (
                        32,
                        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
                    ),
                    _ => (48, &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
                };
                if x.len() != size || y.len() != size {
                    return Err(JwkError::invalid(format!(
                        "{} coordinates must be {size} bytes",
                        self.crv.as_deref().unwrap_or_default()
                    )));
                }
                const EC_PUBLIC_KEY: &[u8] =
                    &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
                let mut point = Vec::with_capacity(2 + 2 * size);
                point.extend_from_slice(&[0x00, 0x04]);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let algo = der_seq(&[EC_PUBLIC_KEY.to_vec(), curve_oid.to_vec()]);
                let spki = der_seq(&[algo, der(0x03, &point)]);
                VerifyingKey::ec_pem(alg, pem("PUBLIC KEY", &spki))?
            }
            "OKP" => {
                let x = self.member("x", self.x.as_deref())?;
                if x.len() != 32 {
                    return Err(JwkError::invalid("Ed25519 public keys are 32 bytes"));
                }
                let mut spki = vec![
                    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
                ];
                spki.extend_from_slice(&x);
                VerifyingKey::ed_pem(pem("PUBLIC KEY", &spki))?
            }
            _ => {
                let k = self.member("k", self.k.as_deref())?;
                VerifyingKey::hmac(alg, k)?
            }
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.as_str()),
            None => key,
        })
    }

    /// The RFC 7638 thumbprint input: the required members in lexicographic order.
    pub(crate) fn thumbprint_input(&self) -> Option<String> {
        let q = |s: &Option<String>| serde_json::to_string(s.as_deref()?).ok();
        Some(match self.kty.as_str() {
            "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, q(&self.e)?, q(&self.n)?),
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                q(&self.crv)?,
                q(&self.x)?,
                q(&self.y)?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                q(&self.crv)?,
                q(&self.x)?
            ),
            _ => return None,
        })
    }

    fn member(&self, name: &str, value: Option<&str>) -> Result<Vec<u8>, JwkError> {
        let value = value.ok_or_else(|| {
            JwkError::malformed(format!("an {} key needs the member {name:?}", self.kty))
        })?;
        // RFC 7515 §2: base64url without padding; tolerate stray padding.
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| JwkError::invalid(format!("the member {name:?} is not base64url")))
    }
}

/// A JWK Set (RFC 7517 §5).
///
/// Parsing is lenient per key: an element that is not a JWK object is dropped
/// and reported by [`to_key_set`](Self::to_key_set), so that one odd key in a
/// provider's set does not make the others unusable.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    #[serde(skip)]
    dropped: Vec<SkippedKey>,
}

/// A key of a JWK Set that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    kid: Option<String>,
    kty: Option<String>,
    reason: JwkError,
}

impl SkippedKey {
    /// The key's `kid`, if it had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's `kty`, if it had one.
    pub fn kty(&self) -> Option<&str> {
        self.kty.as_deref()
    }

    /// Why it was skipped.
    pub fn reason(&self) -> &JwkError {
        &self.reason
    }

    pub(crate) fn new(jwk: &Jwk, reason: JwkError) -> Self {
        Self {
            kid: jwk.kid.as_ref().map(|k| bounded(k).into_owned()),
            kty: Some(bounded(&jwk.kty).into_owned()),
            reason,
        }
    }
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "key {kid:?}: {}", self.reason),
            None => write!(f, "key without kid: {}", self.reason),
        }
    }
}

impl JwkSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWK Set document.
    ///
    /// # Errors
    ///
    /// [`JwkErrorKind::Malformed`] if the document is not a JSON object with a
    /// `keys` array. Elements of the array that are not JWKs do not fail the set.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(json)
            .map_err(|e| JwkError::malformed(format!("not a JWK Set: {e}")))?;
        let mut set = Self::new();
        for value in doc.keys {
            let str_member = |name: &str| {
                value
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(|s| bounded(s).into_owned())
            };
            let (kid, kty) = (str_member("kid"), str_member("kty"));
            match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => set.keys.push(jwk),
                Err(e) => set.dropped.push(SkippedKey {
                    kid,
                    kty,
                    reason: JwkError::malformed(format!("not a JWK: {e}")),
                }),
            }
        }
        Ok(set)
    }

    /// The set as compact JSON: `{"keys":[...]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JWK Set serializes")
    }

    /// Adds a key.
    pub fn push(&mut self, jwk: Jwk) {
        self.keys.push(jwk);
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter()
    }

    /// The number of keys (not counting elements dropped while parsing).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// The verifying keys of the set, and the keys that were skipped with the
    /// reason: unsupported or invalid keys, encryption keys, a second key with
    /// the same `kid`, keys past [`MAX_KEYS_PER_SET`].
    pub fn to_key_set(&self) -> (KeySet, Vec<SkippedKey>) {
        self.to_key_set_with(true, None)
    }

    /// As [`to_key_set`](Self::to_key_set); `symmetric` says whether `oct` keys
    /// are loaded (never from a remote JWKS), `rsa_default` binds RSA keys
    /// without `alg`.
    pub(crate) fn to_key_set_with(
        &self,
        symmetric: bool,
        rsa_default: Option<Algorithm>,
    ) -> (KeySet, Vec<SkippedKey>) {
        let mut set = KeySet::new();
        let mut skipped = self.dropped.clone();
        for jwk in &self.keys {
            let key = if set.len() >= MAX_KEYS_PER_SET {
                Err(JwkError::unsupported(format!(
                    "more than {MAX_KEYS_PER_SET} keys in the set"
                )))
            } else if jwk.is_symmetric() && !symmetric {
                Err(JwkError::unsupported(
                    "symmetric (oct) keys are not accepted from a remote JWK Set",
                ))
            } else {
                jwk.verifying_key_or(rsa_default)
            };
            let result = key.and_then(|key| set.insert(key).map_err(JwkError::from));
            if let Err(reason) = result {
                skipped.push(SkippedKey::new(jwk, reason));
            }
        }
        (set, skipped)
    }
}

impl FromIterator<Jwk> for JwkSet {
    fn from_iter<I: IntoIterator<Item = Jwk>>(iter: I) -> Self {
        Self {
            keys: iter.into_iter().collect(),
            dropped: Vec::new(),
        }
    }
}

/// The RFC 7518 name of `alg`.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // `Algorithm` is non-exhaustive; a future variant is not published.
        _ => "unknown",
    }
}

/// The RFC 7518 algorithm names (and RFC 9864's `Ed25519`).
fn parse_alg(s: &str) -> Option<Algorithm> {
    Some(match s {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" | "Ed25519" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A value from a document, cut short for messages.
fn bounded(s: &str) -> Cow<'_, str> {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// A DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let bytes = strip_zeros(&bytes);
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already encoded elements.
fn der_seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// A DER INTEGER from an unsigned big-endian magnitude without leading zeros.
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(magnitude);
    der(0x02, &content)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der_uint(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(der_uint(&[]), vec![0x02, 1, 0]);
    }

    #[test]
    fn bounded_cuts_on_char_boundaries() {
        let s = "é".repeat(40);
        assert!(bounded(&s).len() <= 67);
    }
}
