//! One remote key source: a JWKS URL, or an issuer found by discovery.
//!
//! The request path reads the current keys from an `ArcSwap` without locking.
//! Fetches run in spawned tasks; at most one is in flight per source and every
//! request that needs it waits on the same `watch` channel. The mutexes guard
//! bookkeeping only and are never held across an `.await`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::Uri;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use super::client::{max_age, HttpClient};
use super::discovery::discover;
use super::error::{JwksError, JwksErrorKind};
use super::stats::Counters;
use super::Config;
use crate::jwk::{JwkSet, SkippedKey};
use crate::keys::KeySet;
use crate::validate::RefreshFuture;
use crate::AuthError;

/// Where the keys are.
#[derive(Debug)]
pub(crate) enum Location {
    /// A JWKS URL.
    Jwks(Uri),
    /// An issuer whose discovery document names the JWKS URL.
    Discovery(Arc<str>),
}

struct Loaded {
    keys: Arc<KeySet>,
    at: Instant,
}

/// Fetch bookkeeping, under one lock so that joining, rate-limiting and
/// starting a fetch are one decision.
struct Flight {
    /// The completion flag of the fetch in flight (or of the last one).
    current: Option<watch::Receiver<bool>>,
    /// When the last fetch for an unknown `kid` started.
    last_refetch: Option<Instant>,
}

pub(crate) struct Source {
    issuer: Option<Arc<str>>,
    location: Location,
    discovered: Mutex<Option<Uri>>,
    loaded: ArcSwapOption<Loaded>,
    failing: AtomicBool,
    failures: AtomicU32,
    flight: Mutex<Flight>,
    next_due: Mutex<Instant>,
    last_error: Mutex<Option<JwksError>>,
    pub(crate) counters: Counters,
    config: Arc<Config>,
    client: HttpClient,
    runtime: Handle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn unavailable() -> AuthError {
    AuthError::invalid_token("Signing keys are unavailable")
}

impl Source {
    pub(crate) fn new(
        issuer: Option<Arc<str>>,
        location: Location,
        config: Arc<Config>,
        client: HttpClient,
        runtime: Handle,
    ) -> Self {
        Self {
            issuer,
            location,
            discovered: Mutex::new(None),
            loaded: ArcSwapOption::empty(),
            failing: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            flight: Mutex::new(Flight {
                current: None,
                last_refetch: None,
            }),
            next_due: Mutex::new(Instant::now()),
            last_error: Mutex::new(None),
            counters: Counters::default(),
            config,
            client,
            runtime,
        }
    }

    /// The current keys: never blocks.
    pub(crate) fn keys(&self) -> Result<Arc<KeySet>, AuthError> {
        let loaded = self.loaded.load();
        match loaded.as_deref() {
            Some(l) if l.at.elapsed() <= self.config.max_stale => {
                if self.failing.load(Ordering::Relaxed) {
                    self.counters.stale_served.inc();
                }
                Ok(l.keys.clone())
            }
            _ => {
                self.counters.keys_unavailable.inc();
                Err(unavailable())
            }
        }
    }

    /// How long ago the keys in use were fetched; `None` before the first load.
    pub(crate) fn key_age(&self) -> Option<std::time::Duration> {
        self.loaded.load().as_deref().map(|l| l.at.elapsed())
    }

    /// The issuer this source serves, if it was configured with one.
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load().is_some()
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.loaded
            .load()
            .as_deref()
            .is_some_and(|l| l.keys.by_kid(kid).is_some())
    }

    /// A token named `kid`, which the keys lack: join the fetch in flight, or
    /// start one unless one started less than the refetch interval ago.
    pub(crate) fn refresh(self: &Arc<Self>, kid: &str) -> Option<RefreshFuture> {
        if self.has_kid(kid) {
            // Loaded since the token was checked.
            return Some(Box::pin(std::future::ready(())));
        }
        let mut flight = lock(&self.flight);
        if let Some(rx) = flight.current.as_ref().filter(|rx| !*rx.borrow()) {
            self.counters.refetch_joined.inc();
            return Some(Box::pin(wait(rx.clone())));
        }
        // No fetch in flight: the last one has stored its keys already.
        if self.has_kid(kid) {
            return Some(Box::pin(std::future::ready(())));
        }
        let now = Instant::now();
        if flight
            .last_refetch
            .is_some_and(|t| now.duration_since(t) < self.config.refetch_interval)
        {
            self.counters.refetch_rate_limited.inc();
            #[cfg(feature = "tracing")]
            tracing::debug!(
                source = %self.describe(),
                "unknown kid: refetch rate-limited"
            );
            return None;
        }
        flight.last_refetch = Some(now);
        self.counters.refetch_unknown_kid.inc();
        #[cfg(feature = "tracing")]
        tracing::debug!(source = %self.describe(), "unknown kid: refetching keys");
        let rx = self.start(&mut flight);
        Some(Box::pin(wait(rx)))
    }

    /// Fetches now, or waits on the fetch in flight.
    pub(crate) fn fetch(self: &Arc<Self>) -> impl std::future::Future<Output = ()> + Send {
        let mut flight = lock(&self.flight);
        let rx = match flight.current.as_ref().filter(|rx| !*rx.borrow()) {
            Some(rx) => rx.clone(),
            None => self.start(&mut flight),
        };
        wait(rx)
    }

    fn start(self: &Arc<Self>, flight: &mut Flight) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        flight.current = Some(rx.clone());
        let this = Arc::clone(self);
        self.runtime.spawn(async move {
            this.fetch_and_store().await;
            tx.send_replace(true);
        });
        rx
    }

    /// When the background task should fetch next.
    pub(crate) fn next_due(&self) -> Instant {
        *lock(&self.next_due)
    }

    pub(crate) fn take_error(&self) -> Option<JwksError> {
        lock(&self.last_error).take()
    }

    pub(crate) fn describe(&self) -> String {
        match (&self.location, &self.issuer) {
            (Location::Jwks(uri), None) => super::error::display_url(uri),
            (Location::Jwks(uri), Some(issuer)) => {
                format!("{} (issuer {issuer})", super::error::display_url(uri))
            }
            (Location::Discovery(issuer), _) => format!("issuer {issuer}"),
        }
    }

    async fn fetch_and_store(&self) {
        let result = self.fetch_keys().await;
        let now = Instant::now();
        let config = &self.config;
        match result {
            Ok((keys, skipped, fresh_for)) => {
                #[cfg(feature = "tracing")]
                {
                    tracing::debug!(
                        source = %self.describe(),
                        keys = keys.len(),
                        skipped = skipped.len(),
                        "signing keys loaded"
                    );
                    for s in &skipped {
                        tracing::debug!(source = %self.describe(), key = %s, "key skipped");
                    }
                }
                self.counters.keys_skipped.add(skipped.len() as u64);
                self.loaded.store(Some(Arc::new(Loaded {
                    keys: Arc::new(keys),
                    at: now,
                })));
                self.failing.store(false, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
                self.counters.fetch_success.inc();
                let delay = fresh_for
                    .map_or(config.refresh_interval, |d| d.min(config.refresh_interval))
                    .max(config.min_refresh_interval);
                *lock(&self.next_due) = now + delay;
            }
            Err(error) => {
                self.counters.fetch_failed.inc();
                self.failing.store(true, Ordering::Relaxed);
                let failures = self
                    .failures
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                #[cfg(feature = "tracing")]
                {
                    let age = self.loaded.load().as_deref().map(|l| now - l.at);
                    match age {
                        Some(age) if age <= config.max_stale => tracing::warn!(
                            source = %self.describe(),
                            %error,
                            kind = error.kind().as_str(),
                            stale_for_secs = age.as_secs(),
                            "fetching signing keys failed; serving the last good keys"
                        ),
                        Some(_) => tracing::warn!(
                            source = %self.describe(),
                            %error,
                            kind = error.kind().as_str(),
                            "fetching signing keys failed; the last good keys are too old, \
                             tokens are refused"
                        ),
                        None => tracing::warn!(
                            source = %self.describe(),
                            %error,
                            kind = error.kind().as_str(),
                            "fetching signing keys failed; no keys loaded, tokens are refused"
                        ),
                    }
                }
                if !matches!(error.kind(), JwksErrorKind::Discovery) {
                    // The JWKS URL may have moved: discover again next time.
                    *lock(&self.discovered) = None;
                }
                *lock(&self.last_error) = Some(error);
                // Exponential backoff from the minimum interval, capped.
                let cap = config
                    .refresh_interval
                    .min(Duration::from_secs(60))
                    .max(config.min_refresh_interval);
                let backoff = config
                    .min_refresh_interval
                    .saturating_mul(1 << failures.saturating_sub(1).min(16))
                    .min(cap);
                *lock(&self.next_due) = now + backoff;
            }
        }
    }

    async fn fetch_keys(&self) -> Result<(KeySet, Vec<SkippedKey>, Option<Duration>), JwksError> {
        let config = &self.config;
        let uri = match &self.location {
            Location::Jwks(uri) => uri.clone(),
            Location::Discovery(issuer) => {
                let known = lock(&self.discovered).clone();
                match known {
                    Some(uri) => uri,
                    None => {
                        let uri = discover(&self.client, issuer, config).await?;
                        *lock(&self.discovered) = Some(uri.clone());
                        uri
                    }
                }
            }
        };
        let fetched = self
            .client
            .get(&uri, config.fetch_timeout, config.max_response_size)
            .await?;
        let set = JwkSet::from_json(&fetched.body).map_err(|e| {
            JwksError::new(JwksErrorKind::Malformed, "not a JWK Set")
                .with_source(e)
                .at(&uri)
        })?;
        let (keys, skipped) = set.to_key_set_with(false, Some(config.rsa_default));
        if keys.is_empty() {
            // Keep the last good keys rather than replace them with none.
            return Err(JwksError::new(
                JwksErrorKind::Malformed,
                format!("no usable key in the set ({} skipped)", skipped.len()),
            )
            .at(&uri));
        }
        Ok((keys, skipped, max_age(&fetched.headers)))
    }
}

async fn wait(mut rx: watch::Receiver<bool>) {
    // An error means the task is gone (runtime shut down): stop waiting.
    let _ = rx.wait_for(|done| *done).await;
}
