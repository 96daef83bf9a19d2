//! Brute-force throttle: failed logins counted per username and per client IP.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hash::RandomState;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ConfigError;

/// Settings of the token endpoint's brute-force throttle (RFC 6749 §4.3.2: the
/// endpoint "MUST protect ... against brute force attacks").
///
/// Failed logins are counted per username (OWASP: the counter belongs to the
/// account) and per client IP (IPv6 addresses by their /64). Once a key reaches
/// `max_failures` within `window` (a fixed window that opens at its first
/// failure), every attempt on it gets 429 with `Retry-After` until the window
/// closes, **whether the password is right or not**, and without any hashing.
///
/// - Every attempt is counted *before* the password is checked and given back
///   when it succeeds, so a burst of parallel guesses cannot overshoot the limit.
///   A successful login clears its username's counter.
/// - Unknown usernames are counted like known ones (no enumeration).
/// - The username is counted exactly as submitted. With a store that matches
///   usernames case-insensitively, `JohnDoe` and `johndoe` have separate
///   counters; the per-IP counter still applies.
/// - Memory is bounded: each table keeps at most
///   [`max_entries`](Self::max_entries) keys (a 64-bit keyed hash each, never
///   the username), dropping closed windows first and then the oldest.
///
/// Defaults: 10 failures per username and 100 per IP in 15 minutes, 10 000
/// entries per table.
///
/// A username-only throttle lets anyone lock an account for the window by
/// failing on purpose; the window is the price. Tune it to your users.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::token::Throttle;
///
/// let throttle = Throttle::new()
///     .per_username(5, Duration::from_secs(300))?
///     .per_ip(50, Duration::from_secs(300))?
///     .max_entries(50_000)?;
/// # let _ = throttle;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Throttle {
    per_username: Option<Limit>,
    per_ip: Option<Limit>,
    max_entries: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Limit {
    max_failures: u32,
    window: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

fn limit(max_failures: u32, window: Duration, what: &str) -> Result<Limit, ConfigError> {
    if max_failures == 0 || window.is_zero() {
        return Err(ConfigError::Invalid(format!(
            "the {what} throttle needs at least one failure and a non-zero window; \
             use `without_{what}` to turn it off"
        )));
    }
    Ok(Limit {
        max_failures,
        window,
    })
}

impl Throttle {
    /// The default throttle.
    pub fn new() -> Self {
        let window = Duration::from_secs(15 * 60);
        Self {
            per_username: Some(Limit {
                max_failures: 10,
                window,
            }),
            per_ip: Some(Limit {
                max_failures: 100,
                window,
            }),
            max_entries: 10_000,
        }
    }

    /// No throttle at all. Only for tests or when a layer in front of the
    /// endpoint throttles logins.
    pub fn disabled() -> Self {
        Self {
            per_username: None,
            per_ip: None,
            max_entries: 10_000,
        }
    }

    /// Allows `max_failures` failed logins per username within `window`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero failures or a zero window.
    pub fn per_username(
        mut self,
        max_failures: u32,
        window: Duration,
    ) -> Result<Self, ConfigError> {
        self.per_username = Some(limit(max_failures, window, "per_username")?);
        Ok(self)
    }

    /// Allows `max_failures` failed logins per client IP within `window`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero failures or a zero window.
    pub fn per_ip(mut self, max_failures: u32, window: Duration) -> Result<Self, ConfigError> {
        self.per_ip = Some(limit(max_failures, window, "per_ip")?);
        Ok(self)
    }

    /// Turns the per-username counter off.
    pub fn without_per_username(mut self) -> Self {
        self.per_username = None;
        self
    }

    /// Turns the per-IP counter off.
    pub fn without_per_ip(mut self) -> Self {
        self.per_ip = None;
        self
    }

    /// Caps the number of keys each table keeps (default 10 000).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero.
    pub fn max_entries(mut self, max_entries: usize) -> Result<Self, ConfigError> {
        if max_entries == 0 {
            return Err(ConfigError::Invalid(
                "the throttle needs room for at least one entry".into(),
            ));
        }
        self.max_entries = max_entries;
        Ok(self)
    }
}

/// One counter.
#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    opened: Instant,
}

/// A bounded table of counters for one kind of key.
#[derive(Debug)]
struct Table {
    limit: Limit,
    max_entries: usize,
    map: HashMap<u64, Entry>,
}

impl Table {
    fn new(limit: Limit, max_entries: usize) -> Self {
        Self {
            limit,
            max_entries,
            map: HashMap::new(),
        }
    }

    /// When `key` is blocked, how long until its window closes.
    fn blocked(&mut self, key: u64, now: Instant) -> Option<Duration> {
        let entry = self.map.get(&key).copied()?;
        let closes = entry.opened + self.limit.window;
        if now >= closes {
            self.map.remove(&key);
            return None;
        }
        (entry.failures >= self.limit.max_failures).then(|| closes - now)
    }

    fn charge(&mut self, key: u64, now: Instant) {
        if let Some(e) = self.map.get_mut(&key) {
            e.failures = e.failures.saturating_add(1);
            return;
        }
        if self.map.len() >= self.max_entries {
            let window = self.limit.window;
            self.map.retain(|_, e| now < e.opened + window);
        }
        if self.map.len() >= self.max_entries {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.opened)
                .map(|(k, _)| *k)
            {
                self.map.remove(&oldest);
            }
        }
        self.map.insert(
            key,
            Entry {
                failures: 1,
                opened: now,
            },
        );
    }

    fn refund(&mut self, key: u64) {
        if let Some(e) = self.map.get_mut(&key) {
            e.failures = e.failures.saturating_sub(1);
            if e.failures == 0 {
                self.map.remove(&key);
            }
        }
    }

    fn clear(&mut self, key: u64) {
        self.map.remove(&key);
    }
}

/// The live counters of a [`Throttle`].
#[derive(Debug)]
pub(crate) struct ThrottleState {
    users: Option<Mutex<Table>>,
    ips: Option<Mutex<Table>>,
    hasher: RandomState,
}

/// An attempt counted in advance; settle it with [`ThrottleState::success`] or
/// [`ThrottleState::refund`], or leave it as a failure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Charge {
    user: Option<u64>,
    ip: Option<u64>,
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ThrottleState {
    pub(crate) fn new(config: &Throttle) -> Self {
        let table = |l: Option<Limit>| l.map(|l| Mutex::new(Table::new(l, config.max_entries)));
        Self {
            users: table(config.per_username),
            ips: table(config.per_ip),
            hasher: RandomState::new(),
        }
    }

    fn ip_key(&self, ip: IpAddr) -> u64 {
        let bytes: [u8; 17] = match ip {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 17];
                b[0] = 4;
                b[1..5].copy_from_slice(&v4.octets());
                b
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => return self.ip_key(IpAddr::V4(v4)),
                None => {
                    let mut b = [0u8; 17];
                    b[0] = 6;
                    // One client usually owns a whole /64.
                    b[1..9].copy_from_slice(&v6.octets()[..8]);
                    b
                }
            },
        };
        self.hasher.hash_one(bytes)
    }

    /// Counts an attempt for `username` (and `ip`), or says how long to wait.
    pub(crate) fn attempt(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Charge, Duration> {
        let user = self.users.as_ref().map(|_| self.hasher.hash_one(username));
        let ip = self.ips.as_ref().and(ip).map(|ip| self.ip_key(ip));
        let mut users = self.users.as_ref().map(lock);
        let mut ips = self.ips.as_ref().map(lock);
        let wait_user = users
            .as_mut()
            .zip(user)
            .and_then(|(t, k)| t.blocked(k, now));
        let wait_ip = ips.as_mut().zip(ip).and_then(|(t, k)| t.blocked(k, now));
        if let Some(wait) = wait_user.max(wait_ip) {
            return Err(wait);
        }
        if let Some((t, k)) = users.as_mut().zip(user) {
            t.charge(k, now);
        }
        if let Some((t, k)) = ips.as_mut().zip(ip) {
            t.charge(k, now);
        }
        Ok(Charge { user, ip })
    }

    /// The attempt succeeded: clear the username's counter, give the IP its
    /// attempt back.
    pub(crate) fn success(&self, charge: Charge) {
        if let Some((t, k)) = self.users.as_ref().zip(charge.user) {
            lock(t).clear(k);
        }
        if let Some((t, k)) = self.ips.as_ref().zip(charge.ip) {
            lock(t).refund(k);
        }
    }

    /// The attempt was not a verdict on the password (the store or the hasher
    /// failed): give it back.
    pub(crate) fn refund(&self, charge: Charge) {
        if let Some((t, k)) = self.users.as_ref().zip(charge.user) {
            lock(t).refund(k);
        }
        if let Some((t, k)) = self.ips.as_ref().zip(charge.ip) {
            lock(t).refund(k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (
            self.users.as_ref().map_or(0, |t| lock(t).map.len()),
            self.ips.as_ref().map_or(0, |t| lock(t).map.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MIN: Duration = Duration::from_secs(60);

    fn state(t: &Throttle) -> ThrottleState {
        ThrottleState::new(t)
    }

    #[test]
    fn blocks_after_max_failures_until_window_closes() {
        let s = state(
            &Throttle::new()
                .per_username(3, MIN)
                .unwrap()
                .without_per_ip(),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            s.attempt("john", None, t0).unwrap();
        }
        let wait = s
            .attempt("john", None, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another user is unaffected.
        s.attempt("jane", None, t0).unwrap();
        // The window closes: a fresh start.
        s.attempt("john", None, t0 + MIN).unwrap();
    }

    #[test]
    fn success_clears_and_refund_gives_back() {
        let s = state(
            &Throttle::new()
                .per_username(2, MIN)
                .unwrap()
                .without_per_ip(),
        );
        let t0 = Instant::now();
        let c = s.attempt("john", None, t0).unwrap();
        s.refund(c);
        let c = s.attempt("john", None, t0).unwrap();
        s.attempt("john", None, t0).unwrap();
        assert!(s.attempt("john", None, t0).is_err());
        s.success(c);
        s.attempt("john", None, t0).unwrap();
    }

    #[test]
    fn per_ip_counts_across_usernames_and_ipv6_by_prefix() {
        let s = state(
            &Throttle::new()
                .without_per_username()
                .per_ip(2, MIN)
                .unwrap(),
        );
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        s.attempt("u1", Some(a), t0).unwrap();
        s.attempt("u2", Some(b), t0).unwrap();
        assert!(s.attempt("u3", Some(a), t0).is_err());
        let other = IpAddr::V4(Ipv4Addr::LOCALHOST);
        s.attempt("u3", Some(other), t0).unwrap();
        // No IP known: only the username counter applies (off here).
        s.attempt("u3", None, t0).unwrap();
    }

    #[test]
    fn memory_is_bounded() {
        let s = state(
            &Throttle::new()
                .per_username(5, MIN)
                .unwrap()
                .per_ip(5, MIN)
                .unwrap()
                .max_entries(100)
                .unwrap(),
        );
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(i));
            let _ = s.attempt(
                &format!("user{i}"),
                Some(ip),
                t0 + Duration::from_millis(i.into()),
            );
        }
        let (users, ips) = s.len();
        assert!(users <= 100 && ips <= 100, "{users} {ips}");
    }
}
