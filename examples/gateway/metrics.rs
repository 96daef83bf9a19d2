//! Counters for `GET /metrics`, in the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Label = [(&'static str, &'static str); 1];

/// The gateway's metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
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

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("gateway");
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
    pub(crate) fn allowed(&self) {
        self.inner.allowed.inc();
    }

    /// Counts a refused request; `reason` is `AuthErrorKind::as_str()`.
    pub(crate) fn denied(&self, reason: &'static str) {
        self.inner.denied.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts a request on a public path.
    pub(crate) fn public(&self) {
        self.inner.public.inc();
    }

    /// Counts an upstream failure: `unreachable` or `timeout`.
    pub(crate) fn upstream_error(&self, kind: &'static str) {
        self.inner
            .upstream_errors
            .get_or_create(&[("kind", kind)])
            .inc();
    }

    /// Counts a request refused for the client's fault: `bad_path`,
    /// `bad_host`, `body_malformed`, `body_timeout`, `body_too_large` or
    /// `too_many_connections`.
    pub(crate) fn client_error(&self, kind: &'static str) {
        self.inner
            .client_errors
            .get_or_create(&[("kind", kind)])
            .inc();
    }

    /// Records the time to response headers.
    pub(crate) fn observe(&self, latency: Duration) {
        self.inner.duration.observe(latency.as_secs_f64());
    }

    /// The metrics in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.inner.registry).expect("writing to a String cannot fail");
        out
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
}
