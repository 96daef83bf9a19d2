//! The token endpoint: a leaf tower `Service` for `POST /token`.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Serialize;
use tower_service::Service;

use super::form::{self, is_scope_token, FormError, FormRules, TokenRequest};
use super::password::{HashError, PasswordHasher, Target, Verified};
use super::resolve::StoreResolver;
use super::store::{StoredUser, UserStore};
use super::throttle::{Throttle, ThrottleState};
use super::users_file::MAX_USERNAME_LEN;
use crate::rotation::KeyRotation;
use crate::{ConfigError, SigningKey, Style};

/// The default lifetime of issued tokens (30 minutes, as the FastAPI tutorial).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 60);
/// The default cap on the request body (16 KiB).
pub const DEFAULT_MAX_BODY_LEN: usize = 16 * 1024;
/// The default cap on the password, in bytes after decoding (1 KiB; OWASP asks
/// for at least 64 characters).
pub const DEFAULT_MAX_PASSWORD_LEN: usize = 1024;

/// The OAuth 2.0 token endpoint for the resource owner password credentials
/// grant (RFC 6749 §4.3): a leaf tower [`Service`] that answers `POST /token`
/// with a signed JWT access token that [`AuthLayer`](crate::AuthLayer) accepts.
///
/// See the [module documentation](super) for the request rules, the answers,
/// an example and RFC 9700's word on this grant.
///
/// It never fails (`Error = Infallible`); every refusal is a response. It is
/// cheap to clone (the configuration is shared).
#[must_use]
pub struct TokenEndpoint<S> {
    config: Arc<Config<S>>,
}

impl<S> Clone for TokenEndpoint<S> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

type ClientIpFn = dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync;

/// What signs the endpoint's tokens: one fixed key, or the active key of a
/// [`KeyRotation`] (read at each login, so a rotation takes effect at once).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenSigner {
    /// One key.
    Fixed(SigningKey),
    /// The active key of a rotation.
    Rotation(KeyRotation),
}

impl TokenSigner {
    fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, crate::SignError> {
        match self {
            TokenSigner::Fixed(key) => key.sign(claims),
            TokenSigner::Rotation(rotation) => rotation.sign(claims),
        }
    }
}

impl From<SigningKey> for TokenSigner {
    fn from(key: SigningKey) -> Self {
        TokenSigner::Fixed(key)
    }
}

impl From<KeyRotation> for TokenSigner {
    fn from(rotation: KeyRotation) -> Self {
        TokenSigner::Rotation(rotation)
    }
}

struct Config<S> {
    store: Arc<S>,
    key: TokenSigner,
    ttl: Duration,
    issuer: Option<String>,
    audience: Vec<String>,
    style: Style,
    bad_credentials_status: Option<StatusCode>,
    known_scopes: Option<Vec<String>>,
    check_disabled: bool,
    hasher: PasswordHasher,
    throttle: Throttle,
    throttle_state: ThrottleState,
    max_body_len: usize,
    max_username_len: usize,
    max_password_len: usize,
    rehash: bool,
    client_ip: Option<Arc<ClientIpFn>>,
}

impl<S: fmt::Debug> fmt::Debug for TokenEndpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.config;
        f.debug_struct("TokenEndpoint")
            .field("store", &c.store)
            .field("key", &c.key)
            .field("ttl", &c.ttl)
            .field("issuer", &c.issuer)
            .field("audience", &c.audience)
            .field("style", &c.style)
            .field("bad_credentials_status", &c.bad_credentials_status())
            .field("known_scopes", &c.known_scopes)
            .field("check_disabled", &c.check_disabled)
            .field("hasher", &c.hasher)
            .field("throttle", &c.throttle)
            .field("max_body_len", &c.max_body_len)
            .field("max_username_len", &c.max_username_len)
            .field("max_password_len", &c.max_password_len)
            .field("rehash", &c.rehash)
            .field(
                "client_ip",
                &c.client_ip.as_ref().map_or("SocketAddr", |_| "<fn>"),
            )
            .finish()
    }
}

/// Builds a [`TokenEndpoint`]; see [`TokenEndpoint::builder`].
#[must_use]
pub struct TokenEndpointBuilder<S> {
    store: Arc<S>,
    key: TokenSigner,
    ttl: Duration,
    issuer: Option<String>,
    audience: Vec<String>,
    style: Style,
    bad_credentials_status: Option<StatusCode>,
    known_scopes: Option<Vec<String>>,
    check_disabled: bool,
    hasher: Option<PasswordHasher>,
    throttle: Throttle,
    max_body_len: usize,
    max_username_len: usize,
    max_password_len: usize,
    rehash: bool,
    client_ip: Option<Arc<ClientIpFn>>,
}

impl<S: fmt::Debug> fmt::Debug for TokenEndpointBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointBuilder")
            .field("store", &self.store)
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

impl<S> TokenEndpoint<S> {
    /// A builder for an endpoint that logs users of `store` in and signs their
    /// tokens with `key` (its `kid` and `typ` go into the token header).
    ///
    /// Defaults: 30-minute tokens, no `iss`/`aud`, [`Style::Standards`] (400
    /// `invalid_grant` for bad credentials), every scope a user may have is
    /// grantable, disabled users refused, [`PasswordHasher::new`],
    /// [`Throttle::new`], a 16 KiB body cap, 256-byte usernames, 1 KiB
    /// passwords, rehash on login, the client IP read from a
    /// [`SocketAddr`] in the request extensions.
    ///
    /// `key` is a [`SigningKey`], or a [`KeyRotation`] whose active key signs
    /// each token (and sets its `kid`).
    pub fn builder(store: S, key: impl Into<TokenSigner>) -> TokenEndpointBuilder<S> {
        TokenEndpointBuilder {
            store: Arc::new(store),
            key: key.into(),
            ttl: DEFAULT_TTL,
            issuer: None,
            audience: Vec::new(),
            style: Style::Standards,
            bad_credentials_status: None,
            known_scopes: None,
            check_disabled: true,
            hasher: None,
            throttle: Throttle::new(),
            max_body_len: DEFAULT_MAX_BODY_LEN,
            max_username_len: MAX_USERNAME_LEN,
            max_password_len: DEFAULT_MAX_PASSWORD_LEN,
            rehash: true,
            client_ip: None,
        }
    }

    /// A [`StoreResolver`] on the same store, for
    /// [`AuthLayer::resolve_user`](crate::AuthLayer::resolve_user).
    pub fn resolver(&self) -> StoreResolver<S> {
        StoreResolver::from_shared(self.config.store.clone())
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.config.store
    }

    /// The password hasher (its [`dummy_verifications`](PasswordHasher::dummy_verifications)
    /// counter is there).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.config.hasher
    }
}

impl<S> TokenEndpointBuilder<S> {
    /// Sets the lifetime of issued tokens (`exp - iat`, and `expires_in`);
    /// default 30 minutes. RFC 6750 §5.3: one hour or less.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] under one second.
    pub fn ttl(mut self, ttl: Duration) -> Result<Self, ConfigError> {
        if ttl.as_secs() == 0 {
            return Err(ConfigError::Invalid(
                "the token lifetime must be at least one second".into(),
            ));
        }
        self.ttl = ttl;
        Ok(self)
    }

    /// Sets the `iss` claim of issued tokens.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the `aud` claim of issued tokens: a string for one audience, an
    /// array for several. RFC 9700 §2.3: access tokens SHOULD be restricted to
    /// the resource server(s) that accept them.
    pub fn audience<I, T>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the answer style (default [`Style::Standards`]); see the module docs.
    pub fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// Sets the status of the answer to bad credentials: 400 (the default in
    /// standards style, and the FastAPI *scopes* tutorial) or 401 (the default in
    /// FastAPI style, the FastAPI JWT tutorial), which comes with
    /// `WWW-Authenticate: Bearer`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for any other status.
    pub fn bad_credentials_status(mut self, status: StatusCode) -> Result<Self, ConfigError> {
        if status != StatusCode::BAD_REQUEST && status != StatusCode::UNAUTHORIZED {
            return Err(ConfigError::Invalid(format!(
                "bad credentials are answered with 400 or 401, not {status}"
            )));
        }
        self.bad_credentials_status = Some(status);
        Ok(self)
    }

    /// Restricts the grantable scopes to `scopes` (the scopes the application
    /// defines): a token gets the requested scopes that are both known and
    /// allowed to the user. Without it, any scope the user may have is grantable.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749 §3.3 `scope-token`.
    pub fn known_scopes<I, T>(mut self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut all: Vec<String> = Vec::new();
        for s in scopes {
            let s = s.into();
            if !is_scope_token(&s) {
                return Err(ConfigError::InvalidScope(s));
            }
            if !all.contains(&s) {
                all.push(s);
            }
        }
        self.known_scopes = Some(all);
        Ok(self)
    }

    /// Whether a disabled user is refused at login (default `true`): with the
    /// same `invalid_grant` answer as a wrong password, after the same work.
    /// FastAPI's tutorial does not look at `disabled` at `/token` (it issues the
    /// token and refuses it later with 400 `Inactive user`); set `false` to do
    /// the same.
    pub fn check_disabled(mut self, check: bool) -> Self {
        self.check_disabled = check;
        self
    }

    /// Sets the password hasher (policy, concurrency bound, queue wait).
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Sets the brute-force throttle (default [`Throttle::new`]).
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Caps the request body (default 16 KiB); larger bodies get 413 before any
    /// hashing, and are not read past the cap.
    pub fn max_body_len(mut self, len: usize) -> Self {
        self.max_body_len = len;
        self
    }

    /// Caps the username, in bytes after decoding (default 256).
    pub fn max_username_len(mut self, len: usize) -> Self {
        self.max_username_len = len;
        self
    }

    /// Caps the password, in bytes after decoding (default 1024). Longer
    /// passwords get 400 `invalid_request` without hashing; none is truncated.
    pub fn max_password_len(mut self, len: usize) -> Self {
        self.max_password_len = len;
        self
    }

    /// Whether a hash weaker than the hasher's policy is replaced after a
    /// successful login, through [`UserStore::update_hash`] (default `true`).
    pub fn rehash_on_login(mut self, rehash: bool) -> Self {
        self.rehash = rehash;
        self
    }

    /// Sets how the per-IP throttle finds the client's address.
    ///
    /// By default it reads a [`std::net::SocketAddr`] from the request
    /// extensions; insert one per connection when serving with hyper. axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()` inserts
    /// `axum::extract::ConnectInfo<SocketAddr>`, a different type, which the
    /// default does not read: pass
    /// `|parts| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())`.
    /// Behind a reverse proxy, read the address the proxy vouches for (never a
    /// client-supplied `X-Forwarded-For` as is). Without an address, only the
    /// per-username counter applies.
    pub fn client_ip<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.client_ip = Some(Arc::new(f));
        self
    }
}

impl<S: UserStore> TokenEndpointBuilder<S> {
    /// Builds the endpoint.
    ///
    /// The hasher's dummy hash, which unknown usernames are verified against,
    /// is raised to the costliest hash the store lists
    /// ([`UserStore::for_each_password_hash`]), so that an unknown username
    /// costs what a wrong password costs.
    pub fn build(self) -> TokenEndpoint<S> {
        let hasher = self.hasher.unwrap_or_default();
        self.store.for_each_password_hash(&mut |phc| {
            hasher.calibrate_dummy(phc);
        });
        TokenEndpoint {
            config: Arc::new(Config {
                store: self.store,
                key: self.key,
                ttl: self.ttl,
                issuer: self.issuer,
                audience: self.audience,
                style: self.style,
                bad_credentials_status: self.bad_credentials_status,
                known_scopes: self.known_scopes,
                check_disabled: self.check_disabled,
                hasher,
                throttle_state: ThrottleState::new(&self.throttle),
                throttle: self.throttle,
                max_body_len: self.max_body_len,
                max_username_len: self.max_username_len,
                max_password_len: self.max_password_len,
                rehash: self.rehash,
                client_ip: self.client_ip,
            }),
        }
    }
}

impl<S, B> Service<Request<B>> for TokenEndpoint<S>
where
    S: UserStore,
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let config = self.config.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let res = match login(&config, req).await {
                    Ok(res) => res,
                    Err(refusal) => config.refuse(&refusal),
                };
                Ok(res)
            }),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

/// The response future of [`TokenEndpoint`].
pub struct ResponseFuture {
    inner: BoxFuture,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// Why a request was refused.
#[derive(Debug)]
enum Refusal {
    Method,
    TooLarge,
    Form(FormError),
    BadCredentials,
    Throttled(Duration),
    Busy(Duration),
    Unavailable,
    Internal,
}

impl Refusal {
    fn invalid(description: &'static str) -> Self {
        Self::Form(FormError::InvalidRequest(description))
    }

    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn kind(&self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::TooLarge => "too_large",
            Self::Form(FormError::InvalidRequest(_)) => "invalid_request",
            Self::Form(FormError::UnsupportedGrantType) => "unsupported_grant_type",
            Self::Form(FormError::InvalidScope) => "invalid_scope",
            Self::BadCredentials => "invalid_grant",
            Self::Throttled(_) => "throttled",
            Self::Busy(_) => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl From<FormError> for Refusal {
    fn from(e: FormError) -> Self {
        Self::Form(e)
    }
}

impl From<HashError> for Refusal {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after } => Self::Busy(retry_after),
            _ => Self::Internal,
        }
    }
}

/// The claims of an issued token.
#[derive(Serialize)]
struct Issued<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience<'a>>,
    exp: u64,
    iat: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct Success<'a> {
    access_token: &'a str,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

async fn login<S, B>(cfg: &Config<S>, req: Request<B>) -> Result<Response<Full<Bytes>>, Refusal>
where
    S: UserStore,
    B: Body,
{
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Err(Refusal::Method);
    }
    check_content_type(&parts.headers)?;
    let body = read_body(body, &parts.headers, cfg.max_body_len).await?;
    let rules = FormRules {
        max_username_len: cfg.max_username_len,
        max_password_len: cfg.max_password_len,
        lenient: cfg.style == Style::FastApi,
    };
    let TokenRequest {
        username,
        password,
        scopes,
    } = form::parse(&body, rules)?;
    drop(body);

    let ip = match &cfg.client_ip {
        Some(f) => f(&parts),
        None => parts.extensions.get::<SocketAddr>().map(SocketAddr::ip),
    };
    let charge = cfg
        .throttle_state
        .attempt(&username, ip, Instant::now())
        .map_err(Refusal::Throttled)?;
    if let Some(delay) = charge.delay {
        // The per-username slow-down: the same wait for every attempt on the
        // username, before the store or the hasher is asked.
        tokio::time::sleep(delay).await;
    }

    let outcome = authenticate(cfg, &username, password.0.into_bytes()).await;
    match &outcome {
        Ok(Some(_)) => cfg.throttle_state.success(charge),
        Ok(None) => {}
        Err(_) => cfg.throttle_state.refund(charge),
    }
    let user = outcome?.ok_or(Refusal::BadCredentials)?;
    issue(cfg, &username, &scopes, &user)
}

/// Checks the password; `Ok(None)` for bad credentials of any kind.
async fn authenticate<S: UserStore>(
    cfg: &Config<S>,
    username: &str,
    password: Vec<u8>,
) -> Result<Option<StoredUser<S::Profile>>, Refusal> {
    let user = cfg.store.find(username).await.map_err(|_e| {
        #[cfg(feature = "tracing")]
        tracing::warn!(error = %_e, "user store failed at the token endpoint");
        Refusal::Unavailable
    })?;
    let refused = user
        .as_ref()
        .is_some_and(|u| cfg.check_disabled && u.is_disabled());
    let target = match &user {
        Some(u) => {
            #[cfg(feature = "tracing")]
            if let Err(reason) = super::password::check_stored(u.password_hash()) {
                tracing::warn!(reason, "a stored password hash cannot be verified");
            }
            Target::Stored(u.password_hash().to_owned())
        }
        None => Target::Dummy,
    };
    let rehash = cfg.rehash && user.is_some() && !refused;
    let verified = cfg.hasher.run_verify(password, target, rehash).await?;
    let Some(user) = user else {
        return Ok(None);
    };
    let Verified::Match { new_hash } = verified else {
        return Ok(None);
    };
    if refused {
        return Ok(None);
    }
    if let Some(new_hash) = new_hash {
        if let Err(_e) = cfg.store.update_hash(username, &new_hash).await {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %_e, "could not store a rehashed password");
        }
    }
    Ok(Some(user))
}

fn issue<S: UserStore>(
    cfg: &Config<S>,
    username: &str,
    requested: &[String],
    user: &StoredUser<S::Profile>,
) -> Result<Response<Full<Bytes>>, Refusal> {
    let granted: Vec<&str> = requested
        .iter()
        .filter(|s| user.scopes().contains(s))
        .filter(|s| cfg.known_scopes.as_ref().is_none_or(|k| k.contains(s)))
        .map(String::as_str)
        .collect();
    let scope = granted.join(" ");

    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| Refusal::Internal)?;
    let jti = URL_SAFE_NO_PAD.encode(jti);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Refusal::Internal)?
        .as_secs();
    let ttl = cfg.ttl.as_secs();
    let claims = Issued {
        iss: cfg.issuer.as_deref(),
        sub: username,
        aud: match cfg.audience.as_slice() {
            [] => None,
            [one] => Some(Audience::One(one)),
            many => Some(Audience::Many(many)),
        },
        exp: now.saturating_add(ttl),
        iat: now,
        jti: &jti,
        scope: (!scope.is_empty()).then_some(scope.as_str()),
    };
    let token = cfg.key.sign(&claims).map_err(|_| Refusal::Internal)?;
    let body = match cfg.style {
        Style::FastApi => Success {
            access_token: &token,
            token_type: "bearer",
            expires_in: None,
            scope: None,
        },
        _ => Success {
            access_token: &token,
            token_type: "bearer",
            expires_in: Some(ttl),
            // RFC 6749 §5.1: required when it differs from the request.
            scope: (granted.len() != requested.len()).then_some(scope.as_str()),
        },
    };
    let body = serde_json::to_vec(&body).map_err(|_| Refusal::Internal)?;
    Ok(json(StatusCode::OK, body))
}

impl<S> Config<S> {
    fn bad_credentials_status(&self) -> StatusCode {
        self.bad_credentials_status.unwrap_or(match self.style {
            Style::FastApi => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        })
    }

    fn refuse(&self, refusal: &Refusal) -> Response<Full<Bytes>> {
        #[cfg(feature = "tracing")]
        tracing::debug!(kind = refusal.kind(), "token request refused");
        let (status, code, description) = match refusal {
            Refusal::Method => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "The token endpoint accepts only POST",
            ),
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "Request body too large",
            ),
            Refusal::Form(FormError::InvalidRequest(d)) => {
                (StatusCode::BAD_REQUEST, "invalid_request", *d)
            }
            Refusal::Form(FormError::UnsupportedGrantType) => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the password grant type is supported",
            ),
            Refusal::Form(FormError::InvalidScope) => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "Malformed scope parameter",
            ),
            Refusal::BadCredentials => (
                self.bad_credentials_status(),
                "invalid_grant",
                "Invalid username or password",
            ),
            Refusal::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "Too many failed login attempts; retry later",
            ),
            Refusal::Busy(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The server is busy; retry later",
            ),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The user store is unavailable",
            ),
            Refusal::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be issued",
            ),
        };
        let body = match self.style {
            Style::FastApi => {
                let detail = match refusal {
                    Refusal::BadCredentials => "Incorrect username or password",
                    Refusal::Method => "Method Not Allowed",
                    _ => description,
                };
                serde_json::json!({ "detail": detail })
            }
            _ => serde_json::json!({ "error": code, "error_description": description }),
        };
        let mut res = json(status, body.to_string().into_bytes());
        let h = res.headers_mut();
        match refusal {
            Refusal::Method => {
                h.insert(ALLOW, HeaderValue::from_static("POST"));
            }
            Refusal::Throttled(wait) | Refusal::Busy(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                h.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// A JSON response with the no-store headers of RFC 6749 §5.1.
fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    const WRONG: &str = "Content-Type must be application/x-www-form-urlencoded";
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let value = values.next().ok_or(Refusal::invalid(WRONG))?;
    if values.next().is_some() {
        return Err(Refusal::invalid("Several Content-Type header fields"));
    }
    let value = value.to_str().map_err(|_| Refusal::invalid(WRONG))?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Refusal::invalid(WRONG));
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let v = value.trim().trim_matches('"');
            if !v.eq_ignore_ascii_case("utf-8") {
                return Err(Refusal::invalid("Only the UTF-8 charset is supported"));
            }
        }
    }
    Ok(())
}

/// Reads the body up to `cap` bytes; 413 past it, without reading further.
async fn read_body<B: Body>(body: B, headers: &HeaderMap, cap: usize) -> Result<Bytes, Refusal> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let cap64 = u64::try_from(cap).unwrap_or(u64::MAX);
    if declared.is_some_and(|n| n > cap64) || body.size_hint().lower() > cap64 {
        return Err(Refusal::TooLarge);
    }
    let mut body = pin!(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(frame) = frame else {
            return Err(Refusal::invalid("Could not read the request body"));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.remaining()) > cap {
                return Err(Refusal::TooLarge);
            }
            buf.put(data);
        }
    }
    Ok(buf.freeze())
}
