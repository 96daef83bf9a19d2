//! Counters for `GET /metrics`, in the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use super::keys::SourcesFn;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Label = [(&'static str, &'static str); 1];

/// The gateway's metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    allowed: Counter,
    denied: Family<Label, Counter>,
    public: Counter,
    upstream_errors: Family<Label, Counter>,
    client_errors: Family<Label, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero, without key sources.
    pub fn new() -> Self {
        Self::with_key_sources(None)
    }

    /// A fresh set of metrics, with those of the external key sources read
    /// at each scrape.
    pub fn with_key_sources(sources: Option<SourcesFn>) -> Self {
        let mut registry = Registry::with_prefix("gateway");
        if let Some(sources) = sources {
            registry.register_collector(Box::new(KeySources(sources)));
        }
        let allowed = Counter::default();
        let denied = Family::<Label, Counter>::default();
        let public = Counter::default();
        let upstream_errors = Family::<Label, Counter>::default();
        let client_errors = Family::<Label, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "auth_allowed",
            "Requests that passed authentication",
            allowed.clone(),
        );
        registry.register(
            "auth_denied",
            "Requests refused by authentication, by reason",
            denied.clone(),
        );
        registry.register(
            "public_requests",
            "Requests forwarded on a public path, without authentication",
            public.clone(),
        );
        registry.register(
            "upstream_errors",
            "Requests answered 502 or 504 because of the upstream, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "client_errors",
            "Requests refused because of the client (bad path, Host or body; too many connections), by kind",
            client_errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response headers",
            duration.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                allowed,
                denied,
                public,
                upstream_errors,
                client_errors,
                duration,
            }),
        }
    }

    /// Counts a request that passed authentication.
    pub fn allowed(&self) {
        self.inner.allowed.inc();
    }

    /// Counts a refused request; `reason` is `AuthErrorKind::as_str()`.
    pub fn denied(&self, reason: &'static str) {
        self.inner.denied.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts a request on a public path.
    pub fn public(&self) {
        self.inner.public.inc();
    }

    /// Counts an upstream failure: `unreachable` or `timeout`.
    pub fn upstream_error(&self, kind: &'static str) {
        self.inner
            .upstream_errors
            .get_or_create(&[("kind", kind)])
            .inc();
    }

    /// Counts a request refused for the client's fault: `bad_path`,
    /// `bad_host`, `body_malformed`, `body_timeout`, `body_too_large` or
    /// `too_many_connections`.
    pub fn client_error(&self, kind: &'static str) {
        self.inner
            .client_errors
            .get_or_create(&[("kind", kind)])
            .inc();
    }

    /// Records the time to response headers.
    pub fn observe(&self, latency: Duration) {
        self.inner.duration.observe(latency.as_secs_f64());
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.inner.registry).expect("writing to a String cannot fail");
        out
    }
}

/// `gateway_jwks_fetches_total{issuer,outcome}` and
/// `gateway_jwks_key_age_seconds{issuer}`, read from the key sources at each
/// scrape.
#[derive(Debug)]
struct KeySources(SourcesFn);

impl Collector for KeySources {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let samples = (self.0 .0)();
        let mut fetches = encoder.encode_descriptor(
            "jwks_fetches",
            "Fetches of external JWK Sets (discovery included), by issuer and outcome",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for s in &samples {
            for (outcome, n) in [("success", s.fetch_success), ("failure", s.fetch_failed)] {
                let labels = [("issuer", s.issuer.as_str()), ("outcome", outcome)];
                ConstCounter::new(n).encode(fetches.encode_family(&labels)?)?;
            }
        }
        let mut age = encoder.encode_descriptor(
            "jwks_key_age_seconds",
            "Seconds since the keys in use were fetched, by issuer (absent before the first fetch)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for s in &samples {
            if let Some(secs) = s.key_age {
                let labels = [("issuer", s.issuer.as_str())];
                ConstGauge::new(secs).encode(age.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_reason() {
        let m = Metrics::new();
        m.allowed();
        m.denied("missing");
        m.denied("missing");
        m.denied("invalid_token");
        let text = m.render();
        assert!(text.contains("gateway_auth_allowed_total 1"), "{text}");
        assert!(
            text.contains("gateway_auth_denied_total{reason=\"missing\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("gateway_auth_denied_total{reason=\"invalid_token\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn key_sources_are_read_at_each_scrape() {
        use super::super::keys::KeySourceSample;
        let fetched = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let seen = fetched.clone();
        let m = Metrics::with_key_sources(Some(SourcesFn(Arc::new(move || {
            vec![
                KeySourceSample {
                    issuer: "https://idp.example".into(),
                    fetch_success: seen.load(std::sync::atomic::Ordering::Relaxed),
                    fetch_failed: 2,
                    key_age: Some(12.5),
                },
                KeySourceSample {
                    issuer: "https://down.example".into(),
                    fetch_success: 0,
                    fetch_failed: 7,
                    key_age: None,
                },
            ]
        }))));
        fetched.store(3, std::sync::atomic::Ordering::Relaxed);
        let text = m.render();
        for line in [
            "gateway_jwks_fetches_total{issuer=\"https://idp.example\",outcome=\"success\"} 3",
            "gateway_jwks_fetches_total{issuer=\"https://idp.example\",outcome=\"failure\"} 2",
            "gateway_jwks_fetches_total{issuer=\"https://down.example\",outcome=\"failure\"} 7",
            "gateway_jwks_key_age_seconds{issuer=\"https://idp.example\"} 12.5",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        assert!(
            !text.contains("key_age_seconds{issuer=\"https://down.example\"}"),
            "{text}"
        );
    }
}
