//! Counters of a remote key source.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a remote key source did since it was built: read it with
/// [`RemoteKeys::stats`](super::RemoteKeys::stats) and export it to your metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// Fetches that loaded a key set (discovery included).
    pub fetch_success: u64,
    /// Fetches that failed (transport, timeout, status, size, malformed, discovery).
    pub fetch_failed: u64,
    /// Fetches started because a token named an unknown `kid`.
    pub refetch_unknown_kid: u64,
    /// Requests with an unknown `kid` that waited on a fetch already in flight.
    pub refetch_joined: u64,
    /// Requests with an unknown `kid` refused without a fetch: one was made
    /// less than the refetch interval ago.
    pub refetch_rate_limited: u64,
    /// Keys skipped while loading sets (unsupported type, encryption key, ...).
    pub keys_skipped: u64,
    /// Requests served with the last good keys while the endpoint is failing.
    pub stale_served: u64,
    /// Requests refused because no keys were loaded yet, or they were too stale.
    pub keys_unavailable: u64,
    /// Requests refused because their `iss` names no configured issuer (only
    /// in the total of [`RemoteKeys::stats`](super::RemoteKeys::stats)).
    pub unknown_issuer: u64,
}

impl JwksStats {
    pub(crate) fn add(&mut self, other: &JwksStats) {
        self.fetch_success += other.fetch_success;
        self.fetch_failed += other.fetch_failed;
        self.refetch_unknown_kid += other.refetch_unknown_kid;
        self.refetch_joined += other.refetch_joined;
        self.refetch_rate_limited += other.refetch_rate_limited;
        self.keys_skipped += other.keys_skipped;
        self.stale_served += other.stale_served;
        self.keys_unavailable += other.keys_unavailable;
        self.unknown_issuer += other.unknown_issuer;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) fetch_success: Counter,
    pub(crate) fetch_failed: Counter,
    pub(crate) refetch_unknown_kid: Counter,
    pub(crate) refetch_joined: Counter,
    pub(crate) refetch_rate_limited: Counter,
    pub(crate) keys_skipped: Counter,
    pub(crate) stale_served: Counter,
    pub(crate) keys_unavailable: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> JwksStats {
        JwksStats {
            fetch_success: self.fetch_success.get(),
            fetch_failed: self.fetch_failed.get(),
            refetch_unknown_kid: self.refetch_unknown_kid.get(),
            refetch_joined: self.refetch_joined.get(),
            refetch_rate_limited: self.refetch_rate_limited.get(),
            keys_skipped: self.keys_skipped.get(),
            stale_served: self.stale_served.get(),
            keys_unavailable: self.keys_unavailable.get(),
            unknown_issuer: 0,
        }
    }
}
