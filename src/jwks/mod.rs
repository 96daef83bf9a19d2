//! Remote keys (feature `jwks`): a JWKS URL, or issuers found by OpenID Connect
//! discovery (or its RFC 8414 form), kept fresh in the background.
//!
//! [`RemoteKeys`] is a [`KeySource`]: give it to
//! [`JwtValidator::from_source`](crate::JwtValidator::from_source) (or call
//! [`RemoteKeys::validator`]) and put the validator in an
//! [`AuthLayer`](crate::AuthLayer).
//!
//! - **Start-up.** By default [`build`](RemoteKeysBuilder::build) fetches every
//!   source before it returns, and fails if one cannot be loaded
//!   ([`Startup::Wait`]). With [`Startup::Background`] it returns at once and
//!   requests are refused (401 `invalid_token`, "Signing keys are unavailable")
//!   until the keys are loaded.
//! - **Refresh.** Each source is refetched in the background every
//!   [`refresh_interval`](RemoteKeysBuilder::refresh_interval), sooner when the
//!   response's `Cache-Control: max-age` says so (never more often than
//!   [`min_refresh_interval`](RemoteKeysBuilder::min_refresh_interval)); failed
//!   fetches are retried with exponential backoff.
//! - **Unknown `kid`.** A token that names a key the set lacks triggers one
//!   refetch at once: concurrent requests wait on the same fetch (one fetch in
//!   flight per source), and no more than one such refetch starts per
//!   [`refetch_interval`](RemoteKeysBuilder::refetch_interval); a request
//!   refused by that limit gets `invalid_token` "Unknown key id".
//! - **Failures.** If the endpoint fails after a successful load, the last good
//!   keys keep serving for up to [`max_stale`](RemoteKeysBuilder::max_stale)
//!   after they were loaded; past that, or if keys were never loaded, requests
//!   get 401 `invalid_token` "Signing keys are unavailable". Failures are logged
//!   (feature `tracing`) and counted in [`JwksStats`]. Keys of unsupported types
//!   are skipped; a set with no usable key at all counts as a failed fetch, so
//!   it never replaces good keys.
//! - **Several issuers.** With [`issuer`](RemoteKeysBuilder::issuer) (discovery)
//!   or [`issuer_jwks_url`](RemoteKeysBuilder::issuer_jwks_url), the token's
//!   `iss` picks the issuer's keys; a token of any other issuer is refused as
//!   `invalid_token` "Unknown issuer". A service's own tokens can be checked
//!   beside them with [`local_issuer`](RemoteKeysBuilder::local_issuer).
//! - **Transport.** Every fetch has a timeout and a size cap; keys are only
//!   fetched over `https`, except from loopback hosts or with
//!   [`allow_http`](RemoteKeysBuilder::allow_http). The HTTP client is any
//!   tower `Service` ([`http_client`](RemoteKeysBuilder::http_client)); the
//!   default is hyper-util's client with rustls and the platform's roots.
//!
//! The request path never blocks: it loads the current key set from an
//! `ArcSwap`. No lock is held across a network call.
//!
//! ```no_run
//! use tower_jwt_auth::jwks::RemoteKeys;
//! use tower_jwt_auth::AuthLayer;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = RemoteKeys::builder()
//!     .issuer("https://accounts.example.com")
//!     .build()
//!     .await?;
//! let layer = AuthLayer::new(keys.validator()?.audience(["my-api"]));
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

mod client;
mod discovery;
mod error;
mod source;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Empty;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tower_service::Service;

pub use error::{JwksError, JwksErrorKind};
pub use stats::JwksStats;

use self::client::{check_url, HttpClient};
use self::source::{Location, Source};
use crate::keys::{Algorithm, KeySet};
use crate::validate::{KeySource, RefreshFuture};
use crate::{AuthError, ConfigError, JwtValidator};

/// The asymmetric algorithms: the allow-list of [`RemoteKeys::validator`].
pub const ASYMMETRIC_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What [`RemoteKeysBuilder::build`] does before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Startup {
    /// Fetch every source first; fail if one cannot be loaded.
    #[default]
    Wait,
    /// Return at once and fetch in the background; until the keys are loaded,
    /// requests are refused ("Signing keys are unavailable").
    Background,
}

/// The settings shared by the sources.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) refresh_interval: Duration,
    pub(crate) min_refresh_interval: Duration,
    pub(crate) refetch_interval: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) max_response_size: usize,
    pub(crate) allow_http: bool,
    pub(crate) rsa_default: Algorithm,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(10),
            refetch_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
            max_stale: Duration::from_secs(24 * 3600),
            max_response_size: 512 * 1024,
            allow_http: false,
            rsa_default: Algorithm::RS256,
        }
    }
}

#[derive(Debug)]
enum Target {
    Jwks(String),
    Issuer(String),
    IssuerJwks { issuer: String, jwks: String },
}

/// Builds [`RemoteKeys`]. See the [module docs](self).
#[must_use]
pub struct RemoteKeysBuilder {
    targets: Vec<Target>,
    locals: Vec<(String, Arc<dyn KeySource>)>,
    config: Config,
    startup: Startup,
    client: Option<HttpClient>,
}

impl fmt::Debug for RemoteKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeysBuilder")
            .field("targets", &self.targets)
            .field(
                "local_issuers",
                &self.locals.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .field("startup", &self.startup)
            .field("client", &self.client)
            .finish()
    }
}

impl RemoteKeysBuilder {
    /// Validates tokens against the JWK Set at `url`, whatever their issuer
    /// (check `iss` with [`JwtValidator::issuer`]). At most one such URL, and
    /// not together with issuers.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.targets.push(Target::Jwks(url.into()));
        self
    }

    /// Validates tokens of `issuer` against the keys its discovery document
    /// names (`{issuer}/.well-known/openid-configuration`, or RFC 8414's
    /// `/.well-known/oauth-authorization-server{path}` when that is 404). The
    /// document's `issuer` must equal `issuer` exactly. Repeat for several issuers.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.targets.push(Target::Issuer(issuer.into()));
        self
    }

    /// Validates tokens of `issuer` against the JWK Set at `jwks_url`, without discovery.
    pub fn issuer_jwks_url(
        mut self,
        issuer: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Self {
        self.targets.push(Target::IssuerJwks {
            issuer: issuer.into(),
            jwks: jwks_url.into(),
        });
        self
    }

    /// Validates tokens of `issuer` against a local key source (no fetching):
    /// for a service that checks its own tokens, signed with a
    /// [`KeyRotation`](crate::rotation::KeyRotation), beside those of identity
    /// providers. The token's `iss` must equal `issuer`.
    pub fn local_issuer(mut self, issuer: impl Into<String>, source: impl KeySource) -> Self {
        self.locals.push((issuer.into(), Arc::new(source)));
        self
    }

    /// The longest time between two fetches of a source (default 5 minutes).
    /// A shorter `Cache-Control: max-age` on the response makes it sooner.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.config.refresh_interval = interval;
        self
    }

    /// The shortest time between two background fetches (default 10 s), whatever
    /// `Cache-Control` says; also the first retry delay after a failure.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.config.min_refresh_interval = interval;
        self
    }

    /// At most one refetch for an unknown `kid` per source per `interval`
    /// (default 10 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.config.refetch_interval = interval;
        self
    }

    /// The time limit of each fetch: connect, answer and body (default 5 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.config.fetch_timeout = timeout;
        self
    }

    /// How long keys keep serving after they were loaded when refreshing them
    /// fails (default 24 hours; at least the refresh interval).
    pub fn max_stale(mut self, max: Duration) -> Self {
        self.config.max_stale = max;
        self
    }

    /// The size cap of a response body (default 512 KiB).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.config.max_response_size = bytes;
        self
    }

    /// Allows plain `http` URLs on any host (default: only on loopback hosts).
    /// Keys fetched over plain http can be replaced by anyone on the path.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.config.allow_http = allow;
        self
    }

    /// The algorithm of RSA keys published without `alg` (default `RS256`).
    ///
    /// Each key verifies one algorithm only; a provider that signs with `PS256`
    /// and omits `alg` from its JWK Set needs this set to `PS256`.
    pub fn default_rsa_algorithm(mut self, alg: Algorithm) -> Self {
        self.config.rsa_default = alg;
        self
    }

    /// Whether [`build`](Self::build) waits for the keys (default [`Startup::Wait`]).
    pub fn startup(mut self, startup: Startup) -> Self {
        self.startup = startup;
        self
    }

    /// Fetches with `client`, any tower `Service` for `GET` requests (a
    /// hyper-util client with your own connector, a client with a proxy, a
    /// test double). Requests carry an absolute URI.
    pub fn http_client<S, B>(mut self, client: S) -> Self
    where
        S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.client = Some(HttpClient::new(client));
        self
    }

    fn check(&self) -> Result<(), JwksError> {
        let c = &self.config;
        let positive = [
            ("refresh_interval", c.refresh_interval),
            ("min_refresh_interval", c.min_refresh_interval),
            ("fetch_timeout", c.fetch_timeout),
            ("max_stale", c.max_stale),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return Err(JwksError::config(format!("{name} must be over zero")));
            }
        }
        if c.min_refresh_interval > c.refresh_interval {
            return Err(JwksError::config(
                "min_refresh_interval must not exceed refresh_interval",
            ));
        }
        if c.max_stale < c.refresh_interval {
            return Err(JwksError::config(
                "max_stale must be at least refresh_interval, or keys would expire between refreshes",
            ));
        }
        if !matches!(
            c.rsa_default,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(JwksError::config(
                "default_rsa_algorithm must be an RSA algorithm",
            ));
        }
        if c.max_response_size == 0 {
            return Err(JwksError::config("max_response_size must be over zero"));
        }
        Ok(())
    }

    /// Builds the source and, with [`Startup::Wait`], loads the keys.
    ///
    /// Must run within a tokio runtime: fetches and the refresh task are
    /// spawned on it. The task stops when the last clone of [`RemoteKeys`]
    /// (and the validators that hold it) is dropped.
    ///
    /// # Errors
    ///
    /// [`JwksErrorKind::Config`] for an invalid setting (no source, a URL off
    /// policy, an issuer given twice, a JWKS URL without issuer mixed with
    /// issuers), and with [`Startup::Wait`] the error of a source that could not
    /// be loaded.
    pub async fn build(self) -> Result<RemoteKeys, JwksError> {
        self.check()?;
        let runtime = Handle::try_current()
            .map_err(|_| JwksError::config("RemoteKeys must be built within a tokio runtime"))?;
        if self.targets.is_empty() && self.locals.is_empty() {
            return Err(JwksError::config("no JWKS URL or issuer was configured"));
        }
        let with_issuer = self
            .targets
            .iter()
            .filter(|t| !matches!(t, Target::Jwks(_)))
            .count()
            + self.locals.len();
        let total = self.targets.len() + self.locals.len();
        if with_issuer > 0 && with_issuer < total || with_issuer == 0 && total > 1 {
            return Err(JwksError::config(
                "a JWKS URL without issuer cannot be combined with other sources: \
                 name the issuer of each (issuer_jwks_url)",
            ));
        }
        let client = match self.client {
            Some(c) => c,
            None => HttpClient::default_client(self.config.fetch_timeout)?,
        };
        let config = Arc::new(self.config);
        let mut sources = Vec::new();
        let mut by_issuer = HashMap::new();
        let mut locals: HashMap<Arc<str>, Arc<dyn KeySource>> = HashMap::new();
        for (issuer, source) in self.locals {
            let issuer: Arc<str> = issuer.into();
            if locals.insert(issuer.clone(), source).is_some() {
                return Err(JwksError::config(format!(
                    "the issuer {issuer:?} is configured twice"
                )));
            }
        }
        for target in self.targets {
            let (issuer, location) = match target {
                Target::Jwks(url) => (None, Location::Jwks(check_url(&url, config.allow_http)?)),
                Target::Issuer(issuer) => {
                    check_url(&issuer, config.allow_http)?;
                    let issuer: Arc<str> = issuer.into();
                    (Some(issuer.clone()), Location::Discovery(issuer))
                }
                Target::IssuerJwks { issuer, jwks } => (
                    Some(Arc::from(issuer)),
                    Location::Jwks(check_url(&jwks, config.allow_http)?),
                ),
            };
            if let Some(issuer) = &issuer {
                if locals.contains_key(issuer)
                    || by_issuer.insert(issuer.clone(), sources.len()).is_some()
                {
                    return Err(JwksError::config(format!(
                        "the issuer {issuer:?} is configured twice"
                    )));
                }
            }
            sources.push(Arc::new(Source::new(
                issuer,
                location,
                config.clone(),
                client.clone(),
                runtime.clone(),
            )));
        }

        if self.startup == Startup::Wait {
            let fetches: Vec<_> = sources.iter().map(Source::fetch).collect();
            for fetch in fetches {
                fetch.await;
            }
            for source in &sources {
                if !source.is_loaded() {
                    return Err(source.take_error().unwrap_or_else(|| {
                        JwksError::new(JwksErrorKind::Transport, "the keys could not be loaded")
                    }));
                }
            }
        }

        let tasks = sources
            .iter()
            .map(|s| runtime.spawn(refresh_loop(Arc::clone(s))).abort_handle())
            .collect();
        Ok(RemoteKeys {
            inner: Arc::new(Inner {
                by_issuer: with_issuer > 0,
                sources,
                issuers: by_issuer,
                locals,
                unknown_issuer: stats::Counter::default(),
                tasks,
            }),
        })
    }
}

/// Fetches each time the source is due, until aborted.
async fn refresh_loop(source: Arc<Source>) {
    loop {
        let due = source.next_due();
        if tokio::time::Instant::now() >= due {
            source.fetch().await;
        } else {
            tokio::time::sleep_until(due).await;
        }
    }
}

/// Keys from JWKS URLs or issuers' discovery documents, kept fresh.
///
/// Cheap to clone; the clones share the keys, the fetches and the counters.
/// See the [module docs](self).
#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Arc<Source>>,
    issuers: HashMap<Arc<str>, usize>,
    locals: HashMap<Arc<str>, Arc<dyn KeySource>>,
    by_issuer: bool,
    unknown_issuer: stats::Counter,
    tasks: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field(
                "sources",
                &self
                    .inner
                    .sources
                    .iter()
                    .map(|s| s.describe())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One remote source as [`RemoteKeys::sources`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStatus {
    /// The issuer the source serves (`None` for a JWKS URL without issuer).
    pub issuer: Option<String>,
    /// Its counters.
    pub stats: JwksStats,
    /// How long ago the keys in use were fetched (`None`: none loaded yet).
    /// It grows past the refresh interval only while the endpoint is failing.
    pub key_age: Option<Duration>,
}

impl RemoteKeys {
    /// A builder; add at least one JWKS URL or issuer.
    pub fn builder() -> RemoteKeysBuilder {
        RemoteKeysBuilder {
            targets: Vec::new(),
            locals: Vec::new(),
            config: Config::default(),
            startup: Startup::default(),
            client: None,
        }
    }

    /// A validator for these keys that allows every asymmetric algorithm
    /// ([`ASYMMETRIC_ALGORITHMS`]; each key still verifies only its own).
    ///
    /// # Errors
    ///
    /// Never today.
    pub fn validator(&self) -> Result<JwtValidator, ConfigError> {
        JwtValidator::from_source(self.clone(), ASYMMETRIC_ALGORITHMS)
    }

    /// The counters, summed over every source.
    pub fn stats(&self) -> JwksStats {
        let mut total = JwksStats::default();
        for s in &self.inner.sources {
            total.add(&s.counters.snapshot());
        }
        total.unknown_issuer += self.inner.unknown_issuer.get();
        total
    }

    /// The counters of `issuer`'s source (of the JWKS URL when `None`).
    pub fn stats_for(&self, issuer: Option<&str>) -> Option<JwksStats> {
        self.source(issuer).map(|s| s.counters.snapshot())
    }

    /// Each remote source's counters and key age, for metrics: one entry per
    /// JWKS URL or discovered issuer, in the order they were added (local
    /// issuers are not remote and are not listed).
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.inner
            .sources
            .iter()
            .map(|s| SourceStatus {
                issuer: s.issuer().map(str::to_owned),
                stats: s.counters.snapshot(),
                key_age: s.key_age(),
            })
            .collect()
    }

    /// Whether every source has loaded keys once.
    pub fn is_loaded(&self) -> bool {
        self.inner.sources.iter().all(|s| s.is_loaded())
    }

    /// Fetches every source now (waiting on fetches in flight), then returns
    /// whether every source has keys. For health checks and tests; the refresh
    /// task does this on its own.
    pub async fn refresh_now(&self) -> bool {
        let fetches: Vec<_> = self.inner.sources.iter().map(Source::fetch).collect();
        for fetch in fetches {
            fetch.await;
        }
        self.is_loaded()
    }

    fn source(&self, issuer: Option<&str>) -> Option<&Arc<Source>> {
        if self.inner.by_issuer {
            let i = *self.inner.issuers.get(issuer?)?;
            self.inner.sources.get(i)
        } else {
            self.inner.sources.first()
        }
    }
}

impl KeySource for RemoteKeys {
    fn keys(&self, issuer: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        if let Some(local) = issuer.and_then(|i| self.inner.locals.get(i)) {
            return local.keys(issuer);
        }
        match self.source(issuer) {
            Some(source) => source.keys(),
            None => {
                self.inner.unknown_issuer.inc();
                Err(match issuer {
                    None => AuthError::invalid_token("Missing iss claim"),
                    Some(_) => AuthError::invalid_token("Unknown issuer"),
                })
            }
        }
    }

    fn refresh(&self, issuer: Option<&str>, kid: &str) -> Option<RefreshFuture> {
        if let Some(local) = issuer.and_then(|i| self.inner.locals.get(i)) {
            return local.refresh(issuer, kid);
        }
        self.source(issuer)?.refresh(kid)
    }

    fn keys_depend_on_issuer(&self) -> bool {
        self.inner.by_issuer
    }
}
