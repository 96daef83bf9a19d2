//! JWT validation: signature, algorithm, header and registered claims.
//!
//! The [`JwtValidator`] decodes each part of the token once, into stack buffers
//! for tokens of ordinary size, and checks the signature with a key prepared when
//! the validator was built. It is what [`AuthLayer`](crate::AuthLayer) runs on
//! every request; it can also be used on its own (in a tonic interceptor, a
//! websocket handshake, a queue consumer).

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::claims::numeric_date;
use crate::keys::{Algorithm, KeySet, VerifyingKey};
use crate::Claims;
use crate::{AuthError, ConfigError};

/// The default cap on the length of a token, in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The default clock-skew leeway (60 s, as Envoy and jsonwebtoken).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
const MAX_LEEWAY: u64 = 300;

/// A future that completes when a key refresh is done.
pub type RefreshFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where a [`JwtValidator`] gets its keys when they can change at run time
/// (a remote JWKS, a rotating key store).
///
/// [`keys`](Self::keys) is called on every request and must not block: return
/// the current set from memory (an `ArcSwap` load, say). When a token names a
/// `kid` that the current set lacks, the layer calls [`refresh`](Self::refresh)
/// and, if it returns a future, waits for it and validates once more. The source
/// is responsible for rate-limiting and single-flighting refreshes.
pub trait KeySource: Send + Sync + 'static {
    /// The current keys for tokens of `issuer` (`None` unless
    /// [`keys_depend_on_issuer`](Self::keys_depend_on_issuer)).
    ///
    /// # Errors
    ///
    /// An `invalid_token` [`AuthError`] when no keys are available (never loaded,
    /// or too stale), or the issuer is unknown.
    fn keys(&self, issuer: Option<&str>) -> Result<Arc<KeySet>, AuthError>;

    /// Asks for a refresh because a token named the unknown `kid`. `None` when no
    /// refresh will happen (rate-limited, or not supported).
    fn refresh(&self, issuer: Option<&str>, kid: &str) -> Option<RefreshFuture>;

    /// Whether the keys depend on the token's `iss` (several issuers). The
    /// unverified `iss` is then read before the signature is checked, to pick the
    /// issuer's keys (RFC 8725 §3.8).
    fn keys_depend_on_issuer(&self) -> bool {
        false
    }
}

#[derive(Clone)]
enum Keys {
    Static(Arc<KeySet>),
    Source {
        source: Arc<dyn KeySource>,
        algorithms: Arc<[Algorithm]>,
    },
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::Static(k) => k.fmt(f),
            Keys::Source { algorithms, .. } => f
                .debug_struct("KeySource")
                .field("algorithms", algorithms)
                .finish_non_exhaustive(),
        }
    }
}

/// A validation failure; an unknown `kid` is kept apart so the layer can ask the
/// key source for a refresh.
#[derive(Debug)]
pub(crate) enum Invalid {
    Token(AuthError),
    UnknownKid {
        kid: Box<str>,
        issuer: Option<Box<str>>,
    },
}

impl From<AuthError> for Invalid {
    fn from(e: AuthError) -> Self {
        Invalid::Token(e)
    }
}

impl Invalid {
    pub(crate) fn into_error(self) -> AuthError {
        match self {
            Invalid::Token(e) => e,
            Invalid::UnknownKid { .. } => unknown_kid(),
        }
    }
}

fn unknown_kid() -> AuthError {
    AuthError::invalid_token("Unknown key id")
}

/// Which `typ` header values are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// Accept no `typ`, `JWT`, or `at+jwt` / `application/at+jwt` (case-insensitive).
    /// This lets tokens made by PyJWT (the FastAPI tutorial) through, which send `typ: JWT`.
    #[default]
    Lenient,
    /// RFC 9068 §4: require `at+jwt` or `application/at+jwt` (case-insensitive), so that
    /// ID tokens and other JWTs of the same issuer cannot be used as access tokens.
    AccessToken,
}

/// A source of the current time, in seconds since the Unix epoch.
#[derive(Clone)]
enum Clock {
    System,
    Custom(Arc<dyn Fn() -> u64 + Send + Sync>),
}

impl Clock {
    fn now(&self) -> i64 {
        let secs = match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Clock::Custom(f) => f(),
        };
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// Validates signed JWTs (JWS compact form) against a [`KeySet`].
///
/// - The algorithm allow-list is the set of the keys' algorithms, and each key
///   verifies only its own algorithm; `none` is never accepted.
/// - A `kid` selects the key; an unknown `kid` is `invalid_token`.
/// - `exp` is required; a token is refused from `exp + leeway` on (RFC 7519
///   §4.1.4: "on or after"). `nbf` and a future `iat` are checked with the same
///   leeway (default 60 s, at most 300 s).
/// - `iss` and `aud`, once configured, must be present and match.
/// - `sub` must be present and a string (it names the user).
/// - Headers with `crit` are refused; `jku`, `x5u`, `jwk` and `x5c` are never used.
/// - Every registered header parameter (RFC 7515 §4.1) that is present must have
///   its JSON type: `"kid": null` or `"x5c": "..."` is a malformed header, not an
///   absent parameter.
/// - Base64url is decoded strictly (no padding, no stray bits) and the header and
///   payload must be JSON objects without duplicate registered names, in UTF-8
///   and without a lone surrogate escape (`"\ud800"`), also in the members
///   nobody reads (RFC 8259 §8.1, §8.2; RFC 8725 §3.7).
/// - With [`max_lifetime`](Self::max_lifetime), tokens that live longer are refused.
///
/// ```
/// use tower_jwt_auth::{Claims, JwtValidator};
///
/// let validator = JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?
///     .leeway(std::time::Duration::ZERO)?;
/// let err = validator.validate::<Claims>("not.a.jwt").unwrap_err();
/// assert_eq!(err.description(), "Malformed token");
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwtValidator {
    keys: Keys,
    leeway: i64,
    issuers: Option<Arc<[Box<str>]>>,
    audiences: Option<Arc<[Box<str>]>>,
    typ: TypPolicy,
    require_sub: bool,
    max_lifetime: Option<i64>,
    max_token_len: usize,
    clock: Clock,
    header_cache: OnceLock<CachedHeader>,
}

/// A header segment that passed [`JwtValidator::check_header`] in a token that
/// validated.
#[derive(Clone, Debug)]
struct CachedHeader {
    segment: Box<[u8]>,
    alg: Algorithm,
    kid: Option<Box<str>>,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.keys)
            .field("leeway", &self.leeway)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("typ", &self.typ)
            .field("require_sub", &self.require_sub)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_token_len", &self.max_token_len)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A validator for the keys of `keys`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoKeys`] if the set is empty.
    pub fn new(keys: KeySet) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        Ok(Self::with_keys(Keys::Static(Arc::new(keys))))
    }

    /// A validator whose keys come from `source` (a remote JWKS, say), for tokens
    /// signed with one of `algorithms` (the allow-list; each key still verifies
    /// only its own algorithm).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `algorithms` is empty.
    pub fn from_source(
        source: impl KeySource,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, ConfigError> {
        let algorithms: Arc<[Algorithm]> = algorithms.into_iter().collect();
        if algorithms.is_empty() {
            return Err(ConfigError::Invalid(
                "the algorithm allow-list of a key source is empty".into(),
            ));
        }
        Ok(Self::with_keys(Keys::Source {
            source: Arc::new(source),
            algorithms,
        }))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            keys,
            leeway: DEFAULT_LEEWAY.as_secs() as i64,
            issuers: None,
            audiences: None,
            typ: TypPolicy::default(),
            require_sub: true,
            max_lifetime: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Clock::System,
            header_cache: OnceLock::new(),
        }
    }

    /// A validator for one key.
    ///
    /// # Errors
    ///
    /// Never today; kept fallible for symmetry with [`new`](Self::new).
    pub fn from_key(key: VerifyingKey) -> Result<Self, ConfigError> {
        Self::new(KeySet::new().with(key)?)
    }

    /// A validator for HS256 tokens signed with `secret` (the FastAPI tutorial's setup).
    ///
    /// # Errors
    ///
    /// [`ConfigError::HmacKeyTooShort`] if `secret` is under 32 bytes.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::from_key(VerifyingKey::hmac(Algorithm::HS256, secret)?)
    }

    /// Sets the clock-skew leeway for `exp`, `nbf` and `iat` (default 60 s).
    ///
    /// # Errors
    ///
    /// [`ConfigError::LeewayTooLarge`] above 300 s.
    pub fn leeway(mut self, leeway: Duration) -> Result<Self, ConfigError> {
        let secs = leeway.as_secs();
        if secs > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge(secs));
        }
        self.leeway = secs as i64;
        Ok(self)
    }

    /// Requires `iss` to be present and equal to one of `issuers` (byte for byte).
    #[must_use]
    pub fn issuer<I, T>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.issuers = Some(issuers.into_iter().map(|s| s.into().into()).collect());
        self
    }

    /// Requires `aud` to be present and to contain one of `audiences`.
    ///
    /// Without this setting, a token that carries an `aud` claim is refused
    /// (RFC 7519 §4.1.3: a recipient that does not identify with the audience
    /// must reject the token), as PyJWT does.
    #[must_use]
    pub fn audience<I, T>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.audiences = Some(audiences.into_iter().map(|s| s.into().into()).collect());
        self
    }

    /// Sets which `typ` header values are accepted (default [`TypPolicy::Lenient`]).
    #[must_use]
    pub fn typ(mut self, policy: TypPolicy) -> Self {
        self.typ = policy;
        self.header_cache = OnceLock::new();
        self
    }

    /// Whether `sub` must be present (default `true`).
    #[must_use]
    pub fn require_sub(mut self, require: bool) -> Self {
        self.require_sub = require;
        self
    }

    /// Caps the lifetime of the tokens accepted (default: no cap).
    ///
    /// With a cap, a token is refused when `exp - iat` exceeds it, and when its
    /// `exp` lies more than the cap (plus the [leeway](Self::leeway), for the
    /// clocks' skew) after the current time, whether or not it has an `iat`.
    /// A token within the cap at both edges (`exp - iat == max`) is accepted.
    /// This bounds how long a leaked token stays usable, whatever `exp` its
    /// issuer (or a misconfigured one) wrote. The cap counts whole seconds.
    ///
    /// It is off by default because the lifetime is the issuer's policy: access
    /// tokens of 5 minutes, 1 hour or 24 hours are all common, and any default
    /// would refuse some issuer's valid tokens. Set it to the longest lifetime
    /// your issuers are meant to use.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_jwt_auth::JwtValidator;
    ///
    /// let validator = JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?
    ///     .max_lifetime(Duration::from_secs(3600));
    /// # Ok::<(), tower_jwt_auth::ConfigError>(())
    /// ```
    #[must_use]
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(i64::try_from(max.as_secs()).unwrap_or(i64::MAX));
        self
    }

    /// Caps the token length in bytes (default 8 KiB). Longer tokens are refused
    /// before any decoding.
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Replaces the clock (seconds since the Unix epoch). For tests and for
    /// systems with their own time source.
    #[must_use]
    pub fn clock(mut self, now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::Custom(Arc::new(now));
        self
    }

    /// The keys, when they are a fixed set (not a [`KeySource`]).
    pub fn keys(&self) -> Option<&KeySet> {
        match &self.keys {
            Keys::Static(k) => Some(k),
            Keys::Source { .. } => None,
        }
    }

    /// Asks the key source for a refresh after an unknown `kid`.
    pub(crate) fn refresh(&self, issuer: Option<&str>, kid: &str) -> Option<RefreshFuture> {
        match &self.keys {
            Keys::Static(_) => None,
            Keys::Source { source, .. } => source.refresh(issuer, kid),
        }
    }

    fn allows(&self, alg: Algorithm) -> bool {
        match &self.keys {
            Keys::Static(k) => k.allows(alg),
            Keys::Source { algorithms, .. } => algorithms.contains(&alg),
        }
    }

    /// The configured token length cap.
    pub fn token_len_cap(&self) -> usize {
        self.max_token_len
    }

    /// Validates `token` and decodes its claims into `C`.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] of kind [`InvalidToken`](crate::AuthErrorKind::InvalidToken)
    /// whose description says what was wrong.
    pub fn validate<C: DeserializeOwned + 'static>(&self, token: &str) -> Result<C, AuthError> {
        self.validate_scoped(token.as_bytes(), &[])
            .map(|(c, _)| c)
            .map_err(Invalid::into_error)
    }

    /// Validates `token`, decodes its claims, and reports whether the token grants
    /// every scope of `required`.
    pub(crate) fn validate_scoped<C: DeserializeOwned + 'static>(
        &self,
        token: &[u8],
        required: &[Box<str>],
    ) -> Result<(C, bool), Invalid> {
        if token.len() > self.max_token_len {
            return Err(AuthError::invalid_token("Token too long").into());
        }
        // The token is handled as bytes: base64url decoding checks every character,
        // so no separate UTF-8 pass is needed.
        let last_dot = token
            .iter()
            .rposition(|&b| b == b'.')
            .ok_or_else(malformed)?;
        let (signing_input, signature) = (&token[..last_dot], &token[last_dot + 1..]);
        let first_dot = signing_input
            .iter()
            .position(|&b| b == b'.')
            .ok_or_else(malformed)?;
        let (header, payload) = (&signing_input[..first_dot], &signing_input[first_dot + 1..]);
        if payload.contains(&b'.') {
            // Five parts is a JWE; anything with more dots is not a JWS.
            return Err(malformed().into());
        }

        // Header: tokens of one issuer share their header, so the first header that
        // passed every check is remembered and not decoded again.
        let (mut stack, mut heap) = ([0u8; 256], Vec::new());
        let (alg, kid) = match self.header_cache.get() {
            Some(c) if *c.segment == *header => (c.alg, c.kid.as_deref().map(Cow::Borrowed)),
            _ => self.check_header(decode_part(header, &mut stack, &mut heap)?)?,
        };

        // Keys: fixed, or the current set of a source (for the token's issuer).
        let (mut pstack, mut pheap) = ([0u8; 512], Vec::new());
        let payload = decode_part(payload, &mut pstack, &mut pheap)?;
        let source_keys;
        let mut issuer = None;
        let keys: &KeySet = match &self.keys {
            Keys::Static(keys) => keys,
            Keys::Source { source, .. } => {
                if source.keys_depend_on_issuer() {
                    #[derive(Deserialize)]
                    struct Iss<'a> {
                        #[serde(borrow, default)]
                        iss: Option<Cow<'a, str>>,
                    }
                    let iss: Iss<'_> = parse_object(payload).map_err(|()| claims_malformed())?;
                    issuer = iss.iss;
                }
                source_keys = source.keys(issuer.as_deref())?;
                &source_keys
            }
        };

        // Signature.
        let (mut stack, mut heap) = ([0u8; 512], Vec::new());
        let sig = decode_part(signature, &mut stack, &mut heap)?;
        let verified = match kid.as_deref() {
            Some(kid) => {
                let Some(key) = keys.by_kid(kid) else {
                    return Err(Invalid::UnknownKid {
                        kid: kid.into(),
                        issuer: issuer.as_deref().map(Into::into),
                    });
                };
                key.algorithm() == alg && key.verify(signing_input, sig)
            }
            None => keys
                .iter()
                .filter(|k| k.algorithm() == alg)
                .any(|k| k.verify(signing_input, sig)),
        };
        if !verified {
            return Err(AuthError::invalid_token("Invalid signature").into());
        }

        // Claims. serde checks only the strings it reads, so the whole text is
        // checked first (once, without a second parse).
        if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
            || json_text_ok(payload).is_err()
        {
            return Err(claims_malformed().into());
        }
        let (claims, has_scopes): (C, bool) = if TypeId::of::<C>() == TypeId::of::<Claims>() {
            // The standard claims hold every registered claim: parse once.
            let claims: C = serde_json::from_slice(payload).map_err(|_| claims_malformed())?;
            let view = (&claims as &dyn Any)
                .downcast_ref::<Claims>()
                .expect("C is Claims");
            self.check(view)?;
            let has_scopes = required.iter().all(|r| view.has_scope(r));
            (claims, has_scopes)
        } else {
            let registered: Registered<'_> =
                serde_json::from_slice(payload).map_err(|_| claims_malformed())?;
            self.check(&registered)?;
            let has_scopes = required.iter().all(|r| registered.has_scope(r));
            let claims = serde_json::from_slice(payload).map_err(|_| claims_malformed())?;
            (claims, has_scopes)
        };
        if self.header_cache.get().is_none() {
            let _ = self.header_cache.set(CachedHeader {
                segment: header.into(),
                alg,
                kid: kid.map(Into::into),
            });
        }
        Ok((claims, has_scopes))
    }

    /// Checks a decoded header: a JSON object, an allowed `alg`, an accepted
    /// `typ`, no `crit`. Returns the algorithm and the `kid`.
    fn check_header<'h>(
        &self,
        json: &'h [u8],
    ) -> Result<(Algorithm, Option<Cow<'h, str>>), AuthError> {
        let header: Header<'h> = json_text_ok(json)
            .and_then(|()| parse_object(json))
            .map_err(|()| AuthError::invalid_token("Malformed token header"))?;
        let alg = parse_alg(&header.alg.0)
            .filter(|&a| self.allows(a))
            .ok_or_else(|| AuthError::invalid_token("Token algorithm not allowed"))?;
        if header.crit.is_some() {
            return Err(AuthError::invalid_token(
                "Unsupported critical header parameter",
            ));
        }
        if !self.typ_ok(header.typ.as_ref().map(|t| &*t.0)) {
            return Err(AuthError::invalid_token("Token type not accepted"));
        }
        Ok((alg, header.kid.map(|k| k.0)))
    }

    fn typ_ok(&self, typ: Option<&str>) -> bool {
        let at_jwt = |t: &str| {
            let t = match t.get(..12) {
                Some(p) if p.eq_ignore_ascii_case("application/") => &t[12..],
                _ => t,
            };
            t.eq_ignore_ascii_case("at+jwt")
        };
        match (self.typ, typ) {
            (TypPolicy::Lenient, None) => true,
            (TypPolicy::Lenient, Some(t)) => t.eq_ignore_ascii_case("JWT") || at_jwt(t),
            (TypPolicy::AccessToken, t) => t.is_some_and(at_jwt),
        }
    }

    fn check(&self, c: &impl RegisteredView) -> Result<(), AuthError> {
        let now = self.clock.now();
        let exp = c
            .exp()
            .ok_or_else(|| AuthError::invalid_token("Missing exp claim"))?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(AuthError::invalid_token("The access token expired"));
        }
        if let Some(nbf) = c.nbf() {
            if now.saturating_add(self.leeway) < nbf {
                return Err(AuthError::invalid_token(
                    "The access token is not yet valid",
                ));
            }
        }
        if let Some(iat) = c.iat() {
            if iat > now.saturating_add(self.leeway) {
                return Err(AuthError::invalid_token(
                    "The access token was issued in the future",
                ));
            }
        }
        if let Some(max) = self.max_lifetime {
            let too_long = c.iat().is_some_and(|iat| exp.saturating_sub(iat) > max)
                || exp > now.saturating_add(max).saturating_add(self.leeway);
            if too_long {
                return Err(AuthError::invalid_token(
                    "The access token lifetime is too long",
                ));
            }
        }
        if let Some(issuers) = &self.issuers {
            let ok = c
                .iss()
                .is_some_and(|iss| issuers.iter().any(|i| &**i == iss));
            if !ok {
                return Err(AuthError::invalid_token("Invalid issuer"));
            }
        }
        let aud_ok = match &self.audiences {
            // RFC 7519 §4.1.3: a recipient that is not in a present `aud` must refuse.
            None => !c.has_aud(),
            Some(allowed) => c.aud_any(|a| allowed.iter().any(|x| &**x == a)),
        };
        if !aud_ok {
            return Err(AuthError::invalid_token("Invalid audience"));
        }
        if self.require_sub && !c.has_sub() {
            return Err(AuthError::invalid_token("Missing sub claim"));
        }
        Ok(())
    }
}

/// The registered claims the validator checks, from either a borrowed parse or
/// the standard [`Claims`].
trait RegisteredView {
    fn exp(&self) -> Option<i64>;
    fn nbf(&self) -> Option<i64>;
    fn iat(&self) -> Option<i64>;
    fn iss(&self) -> Option<&str>;
    fn has_sub(&self) -> bool;
    fn has_aud(&self) -> bool;
    fn aud_any(&self, f: impl FnMut(&str) -> bool) -> bool;
    fn has_scope(&self, scope: &str) -> bool;
}

impl RegisteredView for Claims {
    fn exp(&self) -> Option<i64> {
        Claims::exp(self)
    }
    fn nbf(&self) -> Option<i64> {
        Claims::nbf(self)
    }
    fn iat(&self) -> Option<i64> {
        Claims::iat(self)
    }
    fn iss(&self) -> Option<&str> {
        Claims::iss(self)
    }
    fn has_sub(&self) -> bool {
        self.sub().is_some()
    }
    fn has_aud(&self) -> bool {
        self.has_aud()
    }
    fn aud_any(&self, f: impl FnMut(&str) -> bool) -> bool {
        self.audience().any(f)
    }
    fn has_scope(&self, scope: &str) -> bool {
        Claims::has_scope(self, scope)
    }
}

impl RegisteredView for Registered<'_> {
    fn exp(&self) -> Option<i64> {
        self.exp
    }
    fn nbf(&self) -> Option<i64> {
        self.nbf
    }
    fn iat(&self) -> Option<i64> {
        self.iat
    }
    fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    fn has_sub(&self) -> bool {
        self.sub.is_some()
    }
    fn has_aud(&self) -> bool {
        self.aud.is_some()
    }
    fn aud_any(&self, f: impl FnMut(&str) -> bool) -> bool {
        self.aud.as_ref().is_some_and(|a| a.iter().any(f))
    }
    fn has_scope(&self, required: &str) -> bool {
        let in_scope = self
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|s| s == required));
        in_scope || self.scp.iter().flatten().any(|s| s == required)
    }
}

fn malformed() -> AuthError {
    AuthError::invalid_token("Malformed token")
}

fn claims_malformed() -> AuthError {
    AuthError::invalid_token("Malformed token claims")
}

/// Parses exactly the algorithm names of RFC 7518 (case-sensitive); `none` in any
/// casing is not among them.
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
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Whether `json` is UTF-8 and none of its `\u` escapes is a lone surrogate
/// (RFC 8259 §8.1 and §8.2, RFC 8725 §3.7).
///
/// serde_json checks both in the strings it deserializes, but skips the strings
/// of members nobody reads (an ignored claim) unchecked; this covers the whole
/// text in one linear pass, without parsing it. Backslashes are taken in pairs
/// from the first one on, so `\\ud800` (an escaped backslash, then `ud800`) is
/// not an escape. The text is assumed to be JSON: anything this scan lets
/// through that is not (a backslash outside a string, say) fails the parse.
fn json_text_ok(json: &[u8]) -> Result<(), ()> {
    if std::str::from_utf8(json).is_err() {
        return Err(());
    }
    // `contains` on bytes is a memchr: the common text without escapes costs
    // one fast pass.
    if !json.contains(&b'\\') {
        return Ok(());
    }
    let hex4 = |at: usize| -> Result<u16, ()> {
        let digits = json.get(at..at + 4).ok_or(())?;
        let digits = std::str::from_utf8(digits).map_err(|_| ())?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(());
        }
        u16::from_str_radix(digits, 16).map_err(|_| ())
    };
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut i = 0;
    while let Some(p) = json[i..].iter().position(|&b| b == b'\\') {
        i += p;
        match json.get(i + 1) {
            Some(b'u') => {
                let unit = hex4(i + 2)?;
                i += 6;
                if is_high(unit) {
                    // A high surrogate must be followed at once by `\u` and a low one.
                    if json.get(i..i + 2) != Some(&b"\\u"[..]) || !is_low(hex4(i + 2)?) {
                        return Err(());
                    }
                    i += 6;
                } else if is_low(unit) {
                    return Err(());
                }
            }
            Some(_) => i += 2,
            None => return Err(()),
        }
    }
    Ok(())
}

/// A JSON object (not an array, which serde would also map onto a struct).
fn parse_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, ()> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(());
    }
    serde_json::from_slice(json).map_err(|_| ())
}

/// Decodes one part strictly (URL-safe alphabet, no padding, no non-zero
/// trailing bits) into `stack`, or into `heap` when it does not fit.
fn decode_part<'b>(
    part: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], AuthError> {
    if part.is_empty() {
        return Err(malformed());
    }
    if base64::decoded_len_estimate(part.len()) <= stack.len() {
        let n = URL_SAFE_NO_PAD
            .decode_slice(part, stack)
            .map_err(|_| malformed())?;
        Ok(&stack[..n])
    } else {
        *heap = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed())?;
        Ok(heap)
    }
}

/// The registered header parameters of RFC 7515 §4.1, each with its JSON type.
///
/// A parameter that is present must have its type: `null`, a number for a
/// string, a string for an array are malformed, not absent (which is why every
/// optional one goes through [`present`] rather than `Option`'s own
/// `Deserialize`, which maps `null` to `None`). Parameters that are never used
/// (`jku`, `x5u`, `jwk`, `x5c`, `x5t`, `x5t#S256`, `cty`) are checked for their
/// type only (the fields named `_...`), and, being struct fields, may not
/// appear twice.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: JsonStr<'a>,
    #[serde(borrow, default, deserialize_with = "present")]
    kid: Option<JsonStr<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    typ: Option<JsonStr<'a>>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<StrArray>,
    #[serde(rename = "cty", default, deserialize_with = "present")]
    _cty: Option<AnyStr>,
    #[serde(rename = "jku", default, deserialize_with = "present")]
    _jku: Option<AnyStr>,
    #[serde(rename = "jwk", default, deserialize_with = "present")]
    _jwk: Option<JsonObject>,
    #[serde(rename = "x5u", default, deserialize_with = "present")]
    _x5u: Option<AnyStr>,
    #[serde(rename = "x5c", default, deserialize_with = "present")]
    _x5c: Option<StrArray>,
    #[serde(rename = "x5t", default, deserialize_with = "present")]
    _x5t: Option<AnyStr>,
    #[serde(rename = "x5t#S256", default, deserialize_with = "present")]
    _x5t_s256: Option<AnyStr>,
}

/// A member that, when present, must deserialize as `T` (`null` included: it is
/// `T`'s to accept or refuse). Absence is the field's `default`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A JSON string, borrowed from the input when it has no escapes.
struct JsonStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(V).map(JsonStr)
    }
}

/// A JSON string whose value is not needed.
struct AnyStr;

impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON array of strings (`crit`, `x5c`), whose values are not needed.
struct StrArray;

impl<'de> Deserialize<'de> for StrArray {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrArray;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrArray, A::Error> {
                while seq.next_element::<AnyStr>()?.is_some() {}
                Ok(StrArray)
            }
        }
        d.deserialize_seq(V)
    }
}

/// A JSON object (`jwk`), whose members are not needed.
struct JsonObject;

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonObject)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Registered<'a> {
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aud: Option<Aud<'a>>,
    #[serde(borrow, default)]
    scope: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    scp: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Aud<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    #[serde(borrow)]
    Many(Vec<Cow<'a, str>>),
}

impl Aud<'_> {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[Cow<'_, str>]) = match self {
            Aud::One(s) => (Some(s), &[]),
            Aud::Many(v) => (None, v),
        };
        one.into_iter().chain(many.iter().map(|s| &**s))
    }
}

#[cfg(test)]
mod tests {
    use super::json_text_ok;

    #[test]
    fn json_text_without_escapes() {
        assert!(json_text_ok(br#"{"sub":"johndoe","exp":1}"#).is_ok());
        assert!(json_text_ok("{\"n\":\"caf\u{e9} \u{1f600}\"}".as_bytes()).is_ok());
        assert!(json_text_ok(b"").is_ok());
    }

    #[test]
    fn invalid_utf8_is_refused() {
        for bad in [
            &b"{\"n\":\"\xff\"}"[..],
            b"{\"n\":\"\xc0\xaf\"}",
            b"{\"n\":\"\xed\xa0\x80\"}",
            b"{\"n\":\"\xe2\x82\"}",
            b"\x80",
        ] {
            assert!(json_text_ok(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn surrogate_escapes() {
        let ok = [
            r#""\ud83d\ude00""#,
            r#""\uD83D\uDE00""#,
            r#""\udbff\udfff\ud800\udc00""#,
            r#""\\ud800""#,
            r#""\\\\ud800""#,
            r#""\\\\\\\ud83d\ude00""#,
            r#""\u0041\n\t\"\/\\""#,
            r#""\ud7ff\ue000\uffff""#,
        ];
        for s in ok {
            assert!(json_text_ok(s.as_bytes()).is_ok(), "{s}");
        }
        let bad = [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\uDFFF""#,
            r#""\ud800x""#,
            r#""\ud800\u0041""#,
            r#""\ud800\ud800""#,
            r#""\ud800\n""#,
            r#""\udc00\ud800""#,
            r#""\\\ud800""#,
            r#""\ud800\"#,
            r#""\ud800\u"#,
            r#""\ud800\udc0"#,
            r#""\u12"#,
            r#""\u12g4""#,
            r#""\"#,
        ];
        for s in bad {
            assert!(json_text_ok(s.as_bytes()).is_err(), "{s}");
        }
    }
}
