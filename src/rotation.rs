//! Key rotation: one active signing key, older keys kept for verification until
//! retired, and the public keys published as a JWK Set.
//!
//! A [`KeyRotation`] is shared by the token endpoint (which signs with the
//! active key and sets its `kid`), by the [`JwtValidator`] (it is a
//! [`KeySource`]: each request reads the current set without blocking), and by
//! the [`JwksEndpoint`] that serves `/.well-known/jwks.json` (RFC 7517).
//!
//! A safe rotation, with validators elsewhere that cache the JWK Set:
//!
//! 1. [`add`](KeyRotation::add) the next key: it is published, not yet used;
//! 2. after the JWK Set's cache lifetime, [`activate`](KeyRotation::activate) it:
//!    new tokens carry its `kid`, tokens of the previous key still verify;
//! 3. once the last token of the previous key has expired,
//!    [`retire`](KeyRotation::retire) it.
//!
//! [`rotate`](KeyRotation::rotate) does steps 1 and 2 at once, for validators
//! that refetch on an unknown `kid` (as this crate's remote keys do).
//!
//! ```
//! use tower_jwt_auth::rotation::{KeyPair, KeyRotation};
//! use tower_jwt_auth::{Algorithm, Claims, JwtValidator};
//!
//! let first = KeyPair::hmac(Algorithm::HS256, "2024-01", "a-secret-of-at-least-32-bytes!!!!")?;
//! let rotation = KeyRotation::new(first);
//! let validator = JwtValidator::from_source(rotation.clone(), [Algorithm::HS256])?;
//!
//! let claims = Claims::new("johndoe").with_exp(4_000_000_000);
//! let old = rotation.sign(&claims)?;
//!
//! rotation.rotate(KeyPair::hmac(Algorithm::HS256, "2024-02", "another-secret-of-32-bytes-or-more")?)?;
//! let new = rotation.sign(&claims)?;
//! assert!(validator.validate::<Claims>(&old).is_ok(), "the previous key still verifies");
//! assert!(validator.validate::<Claims>(&new).is_ok());
//!
//! rotation.retire("2024-01")?;
//! assert!(validator.validate::<Claims>(&old).is_err(), "retired");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::EncodingKey;
use serde::Serialize;
use tower_service::Service;

use crate::jwk::{Jwk, JwkSet};
use crate::keys::{Algorithm, KeySet, VerifyingKey};
use crate::validate::{KeySource, RefreshFuture};
use crate::{AuthError, ConfigError, JwtValidator, SignError, SigningKey};

#[cfg(feature = "aws-lc-rs")]
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;

/// A signing key with its public half: what a [`KeyRotation`] holds.
///
/// Asymmetric keys get their public JWK from the private key, and by default
/// their `kid` is the key's RFC 7638 thumbprint. HMAC keys need an explicit
/// `kid` and are never published.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    verifying: VerifyingKey,
    jwk: Option<Jwk>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid())
            .field("alg", &self.algorithm())
            .field("material", &"[redacted]")
            .finish()
    }
}

impl KeyPair {
    /// An RSA private key (PKCS#1 or PKCS#8 PEM) for `RS*`/`PS*`.
    ///
    /// # Errors
    ///
    /// If the PEM is not an RSA private key, the key is under 2048 bits, or
    /// `alg` is not an RSA algorithm.
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let der = EncodingKey::from_rsa_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        let (n, e) = (DEFAULT_PROVIDER
            .key_utils
            .rsa_pub_components_from_private_key)(der.as_bytes())
        .map_err(|e| invalid(alg, &e))?;
        Self::asymmetric(alg, Jwk::rsa(alg, &n, &e), || {
            SigningKey::rsa_pem(alg, pem.as_ref())
        })
    }

    /// An EC private key (PKCS#8 PEM) for `ES256` (P-256) or `ES384` (P-384).
    ///
    /// # Errors
    ///
    /// If the PEM is not a PKCS#8 EC private key on the curve of `alg`.
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        if !matches!(alg, Algorithm::ES256 | Algorithm::ES384) {
            return Err(ConfigError::AlgorithmMismatch {
                algorithm: alg,
                key: "an EC",
            });
        }
        let der = EncodingKey::from_ec_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        let (_, x, y) = (DEFAULT_PROVIDER
            .key_utils
            .ec_pub_components_from_private_key)(der.as_bytes(), alg)
        .map_err(|e| invalid(alg, &e))?;
        Self::asymmetric(alg, Jwk::ec(alg, &x, &y), || {
            SigningKey::ec_pem(alg, pem.as_ref())
        })
    }

    /// An Ed25519 private key (PKCS#8 PEM) for `EdDSA`.
    ///
    /// # Errors
    ///
    /// If the PEM is not a PKCS#8 Ed25519 private key.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let alg = Algorithm::EdDSA;
        let der = EncodingKey::from_ed_pem(pem.as_ref()).map_err(|e| invalid(alg, &e))?;
        let x = (DEFAULT_PROVIDER
            .key_utils
            .ed_pub_components_from_private_key)(
            der.as_bytes(), &EllipticCurve::Ed25519
        )
        .map_err(|e| invalid(alg, &e))?;
        Self::asymmetric(alg, Jwk::ed25519(&x), || SigningKey::ed_pem(pem.as_ref()))
    }

    /// An HMAC key with its `kid`. It signs and verifies but is never published.
    ///
    /// # Errors
    ///
    /// As [`VerifyingKey::hmac`].
    pub fn hmac(
        alg: Algorithm,
        kid: impl Into<Arc<str>>,
        secret: impl AsRef<[u8]>,
    ) -> Result<Self, ConfigError> {
        let kid = kid.into();
        Ok(Self {
            signing: SigningKey::hmac(alg, secret.as_ref())?.with_kid(kid.clone()),
            verifying: VerifyingKey::hmac(alg, secret.as_ref())?.with_kid(kid),
            jwk: None,
        })
    }

    /// Builds the public half first (it refuses RSA under 2048 bits with a clear
    /// message), then the signing half.
    fn asymmetric(
        alg: Algorithm,
        jwk: Result<Jwk, crate::jwk::JwkError>,
        signing: impl FnOnce() -> Result<SigningKey, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let jwk = jwk.map_err(|e| ConfigError::InvalidKey {
            algorithm: alg,
            reason: e.to_string(),
        })?;
        let input = jwk
            .thumbprint_input()
            .expect("an asymmetric JWK has a thumbprint");
        let digest =
            (DEFAULT_PROVIDER.key_utils.compute_digest)(input.as_bytes(), ThumbprintHash::SHA256)
                .map_err(|e| invalid(alg, &e))?;
        let kid = URL_SAFE_NO_PAD.encode(digest);
        // The verifying key is built from the JWK: this also refuses RSA under 2048 bits.
        let verifying = jwk.verifying_key().map_err(|e| ConfigError::InvalidKey {
            algorithm: alg,
            reason: e.to_string(),
        })?;
        Ok(Self {
            signing: signing()?,
            verifying,
            jwk: Some(jwk),
        }
        .with_kid(kid))
    }

    /// Sets the `kid` (by default, the RFC 7638 thumbprint of an asymmetric key).
    #[must_use]
    pub fn with_kid(self, kid: impl Into<Arc<str>>) -> Self {
        let kid = kid.into();
        Self {
            signing: self.signing.with_kid(kid.clone()),
            jwk: self.jwk.map(|j| j.with_kid(&*kid)),
            verifying: self.verifying.with_kid(kid),
        }
    }

    /// Sets the `typ` header of the tokens it signs (default `JWT`).
    #[must_use]
    pub fn with_typ(mut self, typ: impl Into<Arc<str>>) -> Self {
        self.signing = self.signing.with_typ(typ);
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        self.verifying.kid().expect("a key pair has a kid")
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.signing.algorithm()
    }

    /// The signing half.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The verifying half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The public JWK (`None` for HMAC keys).
    pub fn jwk(&self) -> Option<&Jwk> {
        self.jwk.as_ref()
    }
}

fn invalid(alg: Algorithm, e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey {
        algorithm: alg,
        reason: e.to_string(),
    }
}

/// One active signing key, and the keys that still verify.
///
/// Cheap to clone (an `Arc`); every clone sees the same keys. Reads (signing,
/// [`KeySource::keys`], publishing) never block: they load the current state
/// from an `ArcSwap`. Changes are serialized and replace the state whole.
///
/// See the [module docs](self) for an example and the rotation procedure.
#[derive(Clone)]
pub struct KeyRotation {
    inner: Arc<Inner>,
}

struct Inner {
    state: ArcSwap<State>,
    write: Mutex<()>,
}

struct State {
    active: KeyPair,
    entries: Vec<Entry>,
    keys: Arc<KeySet>,
    jwks: Bytes,
}

#[derive(Clone)]
struct Entry {
    verifying: VerifyingKey,
    jwk: Option<Jwk>,
    pair: Option<KeyPair>,
}

impl Entry {
    fn kid(&self) -> &str {
        self.verifying.kid().unwrap_or_default()
    }
}

impl State {
    fn build(active: KeyPair, entries: Vec<Entry>) -> Result<Self, ConfigError> {
        let keys: Result<KeySet, ConfigError> =
            entries.iter().map(|e| e.verifying.clone()).collect();
        let jwks: JwkSet = entries.iter().filter_map(|e| e.jwk.clone()).collect();
        Ok(Self {
            active,
            keys: Arc::new(keys?),
            jwks: Bytes::from(jwks.to_json()),
            entries,
        })
    }
}

impl fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.load();
        f.debug_struct("KeyRotation")
            .field("active", &state.active.kid())
            .field(
                "keys",
                &state.entries.iter().map(Entry::kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRotation {
    /// A rotation whose first active key is `active`.
    pub fn new(active: KeyPair) -> Self {
        let entry = Entry {
            verifying: active.verifying.clone(),
            jwk: active.jwk.clone(),
            pair: Some(active.clone()),
        };
        let state = State::build(active, vec![entry]).expect("one key");
        Self {
            inner: Arc::new(Inner {
                state: ArcSwap::from_pointee(state),
                write: Mutex::new(()),
            }),
        }
    }

    fn update(
        &self,
        f: impl FnOnce(&State) -> Result<(KeyPair, Vec<Entry>), ConfigError>,
    ) -> Result<(), ConfigError> {
        let _guard = self
            .inner
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.inner.state.load_full();
        let (active, entries) = f(&current)?;
        self.inner
            .state
            .store(Arc::new(State::build(active, entries)?));
        Ok(())
    }

    fn insert(&self, entry: Entry, activate: bool) -> Result<(), ConfigError> {
        self.update(|s| {
            if s.entries.iter().any(|e| e.kid() == entry.kid()) {
                return Err(ConfigError::DuplicateKid(entry.kid().to_owned()));
            }
            let active = match (&entry.pair, activate) {
                (Some(pair), true) => pair.clone(),
                _ => s.active.clone(),
            };
            let mut entries = s.entries.clone();
            entries.push(entry);
            Ok((active, entries))
        })
    }

    /// Adds `next` as a verification key, published but not yet signing; make it
    /// the signing key later with [`activate`](Self::activate).
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKid`] if a key with its `kid` is in the set.
    pub fn add(&self, next: KeyPair) -> Result<(), ConfigError> {
        let entry = Entry {
            verifying: next.verifying.clone(),
            jwk: next.jwk.clone(),
            pair: Some(next),
        };
        self.insert(entry, false)
    }

    /// Adds a public key that verifies (and is published) but never signs: a
    /// previous key whose private half is gone, kept until its tokens expire.
    ///
    /// # Errors
    ///
    /// If the JWK has no `kid` or is not a usable verification key, or its `kid`
    /// is already in the set.
    pub fn add_public(&self, jwk: Jwk) -> Result<(), ConfigError> {
        if jwk.kid().is_none_or(str::is_empty) {
            return Err(ConfigError::Invalid(
                "a public key added to a rotation needs a kid".into(),
            ));
        }
        let verifying = jwk
            .verifying_key()
            .map_err(|e| ConfigError::Invalid(format!("unusable JWK: {e}")))?;
        let jwk = (!jwk.is_symmetric()).then_some(jwk);
        self.insert(
            Entry {
                verifying,
                jwk,
                pair: None,
            },
            false,
        )
    }

    /// Adds `next` and makes it the signing key at once; the previous key keeps
    /// verifying until [`retire`](Self::retire)d.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKid`] if a key with its `kid` is in the set.
    pub fn rotate(&self, next: KeyPair) -> Result<(), ConfigError> {
        let entry = Entry {
            verifying: next.verifying.clone(),
            jwk: next.jwk.clone(),
            pair: Some(next),
        };
        self.insert(entry, true)
    }

    /// Makes the key `kid`, added earlier with [`add`](Self::add), the signing key.
    ///
    /// # Errors
    ///
    /// If no key has that `kid`, or it has no private half.
    pub fn activate(&self, kid: &str) -> Result<(), ConfigError> {
        self.update(|s| {
            let entry = s
                .entries
                .iter()
                .find(|e| e.kid() == kid)
                .ok_or_else(|| ConfigError::Invalid(format!("no key has the kid {kid:?}")))?;
            let pair = entry.pair.clone().ok_or_else(|| {
                ConfigError::Invalid(format!("the key {kid:?} has no private half"))
            })?;
            Ok((pair, s.entries.clone()))
        })
    }

    /// Removes the key `kid`: its tokens are refused from now on.
    ///
    /// # Errors
    ///
    /// If no key has that `kid`, or it is the active signing key.
    pub fn retire(&self, kid: &str) -> Result<(), ConfigError> {
        self.update(|s| {
            if s.active.kid() == kid {
                return Err(ConfigError::Invalid(format!(
                    "the key {kid:?} is the active signing key; activate another first"
                )));
            }
            let before = s.entries.len();
            let entries: Vec<Entry> = s
                .entries
                .iter()
                .filter(|e| e.kid() != kid)
                .cloned()
                .collect();
            if entries.len() == before {
                return Err(ConfigError::Invalid(format!("no key has the kid {kid:?}")));
            }
            Ok((s.active.clone(), entries))
        })
    }

    /// The active signing key (with its `kid`).
    pub fn signing_key(&self) -> SigningKey {
        self.inner.state.load().active.signing.clone()
    }

    /// The `kid` of the active signing key.
    pub fn active_kid(&self) -> String {
        self.inner.state.load().active.kid().to_owned()
    }

    /// The `kid`s of every verification key, in the order they were added.
    pub fn kids(&self) -> Vec<String> {
        let state = self.inner.state.load();
        state.entries.iter().map(|e| e.kid().to_owned()).collect()
    }

    /// Signs `claims` with the active key.
    ///
    /// # Errors
    ///
    /// As [`SigningKey::sign`].
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SignError> {
        self.inner.state.load().active.signing.sign(claims)
    }

    /// The current verification keys.
    pub fn key_set(&self) -> Arc<KeySet> {
        self.inner.state.load().keys.clone()
    }

    /// The public keys (HMAC keys are never published).
    pub fn jwk_set(&self) -> JwkSet {
        let state = self.inner.state.load();
        state.entries.iter().filter_map(|e| e.jwk.clone()).collect()
    }

    /// The public keys as the JSON document served at `/.well-known/jwks.json`.
    pub fn jwks_json(&self) -> Bytes {
        self.inner.state.load().jwks.clone()
    }

    /// A validator for this rotation's keys, whose algorithm allow-list is the
    /// algorithms of the current keys. Build one with
    /// [`JwtValidator::from_source`] to allow algorithms of keys added later.
    ///
    /// # Errors
    ///
    /// Never today (there is always an active key).
    pub fn validator(&self) -> Result<JwtValidator, ConfigError> {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for key in self.key_set().iter() {
            if !algorithms.contains(&key.algorithm()) {
                algorithms.push(key.algorithm());
            }
        }
        JwtValidator::from_source(self.clone(), algorithms)
    }
}

impl KeySource for KeyRotation {
    fn keys(&self, _issuer: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        Ok(self.key_set())
    }

    fn refresh(&self, _issuer: Option<&str>, _kid: &str) -> Option<RefreshFuture> {
        // The keys are local: a `kid` missing now is missing after any refresh.
        None
    }
}

/// The default `Cache-Control: max-age` of a [`JwksEndpoint`] (5 minutes).
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// A leaf service that serves a JWK Set (RFC 7517 §5), the document of
/// `/.well-known/jwks.json`.
///
/// It answers every request it is given: `GET` and `HEAD` with
/// `200 application/jwk-set+json` and `Cache-Control: public, max-age=..`,
/// other methods with `405`. Mount it on the path with your router. `B` is the
/// response body type, any body that converts from [`Bytes`] (`Full<Bytes>`,
/// axum's `Body`).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, StatusCode};
/// use http_body_util::Full;
/// use tower::{Service, ServiceExt};
/// use tower_jwt_auth::rotation::{JwksEndpoint, KeyPair, KeyRotation};
/// # const PEM: &str = include_str!("../tests/data/ed25519.pem");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rotation = KeyRotation::new(KeyPair::ed_pem(PEM)?.with_kid("ed-1"));
/// let mut jwks = JwksEndpoint::<Full<Bytes>>::new(rotation);
/// let request = Request::new(());
/// let response = ServiceExt::<Request<()>>::ready(&mut jwks).await?.call(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.headers()["content-type"], "application/jwk-set+json");
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct JwksEndpoint<B> {
    published: Published,
    cache_control: HeaderValue,
    _body: PhantomData<fn() -> B>,
}

#[derive(Clone)]
enum Published {
    Rotation(KeyRotation),
    Fixed(Bytes),
}

impl<B> Clone for JwksEndpoint<B> {
    fn clone(&self) -> Self {
        Self {
            published: self.published.clone(),
            cache_control: self.cache_control.clone(),
            _body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for JwksEndpoint<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JwksEndpoint");
        match &self.published {
            Published::Rotation(r) => d.field("rotation", r),
            Published::Fixed(b) => d.field("fixed_len", &b.len()),
        };
        d.field("cache_control", &self.cache_control).finish()
    }
}

impl<B> JwksEndpoint<B> {
    /// Serves the public keys of `rotation`, as they are at each request.
    pub fn new(rotation: KeyRotation) -> Self {
        Self::with(Published::Rotation(rotation))
    }

    /// Serves a fixed JWK Set.
    pub fn fixed(set: &JwkSet) -> Self {
        Self::with(Published::Fixed(Bytes::from(set.to_json())))
    }

    fn with(published: Published) -> Self {
        Self {
            published,
            cache_control: cache_control(DEFAULT_JWKS_MAX_AGE),
            _body: PhantomData,
        }
    }

    /// Sets the `Cache-Control: max-age` (default 5 minutes): how long clients
    /// may keep the set. Add a key at least this long before activating it.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.cache_control = cache_control(max_age);
        self
    }
}

fn cache_control(max_age: Duration) -> HeaderValue {
    HeaderValue::try_from(format!("public, max-age={}", max_age.as_secs()))
        .expect("digits are a valid header value")
}

impl<B, ReqB> Service<Request<ReqB>> for JwksEndpoint<B>
where
    B: From<Bytes>,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<Response<B>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let method = req.method();
        if method != Method::GET && method != Method::HEAD {
            let mut res = Response::new(B::from(Bytes::new()));
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(res));
        }
        let body = match &self.published {
            Published::Rotation(r) => r.jwks_json(),
            Published::Fixed(b) => b.clone(),
        };
        let len = HeaderValue::from(body.len());
        let body = if method == Method::HEAD {
            Bytes::new()
        } else {
            body
        };
        let mut res = Response::new(B::from(body));
        let headers = res.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        headers.insert(CACHE_CONTROL, self.cache_control.clone());
        headers.insert(CONTENT_LENGTH, len);
        ready(Ok(res))
    }
}
