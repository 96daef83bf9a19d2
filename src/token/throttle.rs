//! Brute-force throttle: failed logins counted per (username, client), per
//! client, and per username over all clients.

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
/// Failed logins are counted with three keys, each in a fixed window that
/// opens at its first failure. A client is its IP address (IPv6 addresses by
/// their /64, which one client usually owns).
///
/// | key | default | past the limit |
/// |---|---|---|
/// | username **and** client | 10 failures in 15 min | that client gets 429 `slow_down` with `Retry-After` for that username, right password or not |
/// | client | 100 failures in 15 min | that client gets 429 for every username (credential stuffing) |
/// | username, over all clients | 100 failures in 15 min | every attempt on the username waits 2 s before it is checked: a slow-down, never a lock-out |
///
/// So a client that fails on purpose locks only itself out: the owner of the
/// account, from another address, still logs in (OWASP Authentication Cheat
/// Sheet: "account lockout" is a denial of service). Guessing one password from
/// many addresses is slowed down for everyone trying that username, the owner
/// too, but never refused.
///
/// - Every attempt is counted *before* the password is checked and given back
///   when it succeeds, so a burst of parallel guesses cannot overshoot a
///   limit. A successful login clears its (username, client) counter; the
///   username's counter over all clients only gets that attempt back, since
///   the other clients' failures still happened.
/// - Locked attempts are refused without hashing; slowed attempts wait before
///   hashing and before the store is asked, and the wait is the same whether
///   the user exists or not.
/// - Unknown usernames are counted like known ones (no enumeration).
/// - The username is counted exactly as submitted. With a store that matches
///   usernames case-insensitively, `JohnDoe` and `johndoe` have separate
///   counters; the per-client counter still applies.
/// - Without a client address (see
///   [`client_ip`](super::TokenEndpointBuilder::client_ip)), all clients are
///   one: the (username, client) counter then locks the username for
///   everyone. Give the endpoint the address.
/// - Memory is bounded: each table keeps at most
///   [`max_entries`](Self::max_entries) keys (a 64-bit keyed hash each, never
///   the username), dropping closed windows first and then the oldest.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::token::Throttle;
///
/// let five_minutes = Duration::from_secs(300);
/// let throttle = Throttle::new()
///     .per_username_and_ip(5, five_minutes)?
///     .per_ip(50, five_minutes)?
///     .per_username(200, five_minutes, Duration::from_secs(1))?
///     .max_entries(50_000)?;
/// # let _ = throttle;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Throttle {
    per_pair: Option<Limit>,
    per_ip: Option<Limit>,
    per_username: Option<(Limit, Duration)>,
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

/// The default window of every counter (15 minutes).
const WINDOW: Duration = Duration::from_secs(15 * 60);

impl Throttle {
    /// The default throttle (see the table above).
    pub fn new() -> Self {
        Self {
            per_pair: Some(Limit {
                max_failures: 10,
                window: WINDOW,
            }),
            per_ip: Some(Limit {
                max_failures: 100,
                window: WINDOW,
            }),
            per_username: Some((
                Limit {
                    max_failures: 100,
                    window: WINDOW,
                },
                Duration::from_secs(2),
            )),
            max_entries: 10_000,
        }
    }

    /// No throttle at all. Only for tests, for a demo that must answer like an
    /// unthrottled original, or when a layer in front of the endpoint
    /// throttles logins.
    pub fn disabled() -> Self {
        Self {
            per_pair: None,
            per_ip: None,
            per_username: None,
            max_entries: 10_000,
        }
    }

    /// Allows `max_failures` failed logins per (username, client IP) within
    /// `window`; past it, that client is refused for that username until the
    /// window closes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero failures or a zero window.
    pub fn per_username_and_ip(
        mut self,
        max_failures: u32,
        window: Duration,
    ) -> Result<Self, ConfigError> {
        self.per_pair = Some(limit(max_failures, window, "per_username_and_ip")?);
        Ok(self)
    }

    /// Allows `max_failures` failed logins per client IP, over all usernames,
    /// within `window`; past it, the client is refused until the window closes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero failures or a zero window.
    pub fn per_ip(mut self, max_failures: u32, window: Duration) -> Result<Self, ConfigError> {
        self.per_ip = Some(limit(max_failures, window, "per_ip")?);
        Ok(self)
    }

    /// Past `max_failures` failed logins for a username from all clients
    /// within `window`, every attempt on that username waits `delay` before
    /// the password is checked, until the window closes. Nobody is refused.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero failures, a zero window, or a zero
    /// delay or one over a minute (a client waiting that long has given up).
    pub fn per_username(
        mut self,
        max_failures: u32,
        window: Duration,
        delay: Duration,
    ) -> Result<Self, ConfigError> {
        let l = limit(max_failures, window, "per_username")?;
        if delay.is_zero() || delay > Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "the per_username slow-down needs a delay between 1 ms and 60 s".into(),
            ));
        }
        self.per_username = Some((l, delay));
        Ok(self)
    }

    /// Turns the (username, client) counter off.
    pub fn without_per_username_and_ip(mut self) -> Self {
        self.per_pair = None;
        self
    }

    /// Turns the per-client counter off.
    pub fn without_per_ip(mut self) -> Self {
        self.per_ip = None;
        self
    }

    /// Turns the per-username slow-down off.
    pub fn without_per_username(mut self) -> Self {
        self.per_username = None;
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

    /// Whether any counter is on.
    pub fn is_enabled(&self) -> bool {
        self.per_pair.is_some() || self.per_ip.is_some() || self.per_username.is_some()
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

    /// Whether `key` has reached its limit in an open window.
    fn over(&mut self, key: u64, now: Instant) -> bool {
        self.blocked(key, now).is_some()
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
    pairs: Option<Mutex<Table>>,
    ips: Option<Mutex<Table>>,
    users: Option<(Mutex<Table>, Duration)>,
    hasher: RandomState,
}

/// An attempt counted in advance; settle it with [`ThrottleState::success`] or
/// [`ThrottleState::refund`], or leave it as a failure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Charge {
    pair: Option<u64>,
    ip: Option<u64>,
    user: Option<u64>,
    /// How long the attempt waits before it is checked (the per-username
    /// slow-down), if at all.
    pub(crate) delay: Option<Duration>,
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Tags that keep the three kinds of keys apart in the one keyed hash.
const PAIR: u8 = 1;
const USER: u8 = 2;

impl ThrottleState {
    pub(crate) fn new(config: &Throttle) -> Self {
        let table = |l: Limit| Mutex::new(Table::new(l, config.max_entries));
        Self {
            pairs: config.per_pair.map(table),
            ips: config.per_ip.map(table),
            users: config.per_username.map(|(l, d)| (table(l), d)),
            hasher: RandomState::new(),
        }
    }

    /// The client's bytes: the address, IPv6 by its /64, IPv4-mapped as IPv4.
    fn ip_bytes(ip: IpAddr) -> [u8; 17] {
        let mut b = [0u8; 17];
        match ip {
            IpAddr::V4(v4) => {
                b[0] = 4;
                b[1..5].copy_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => return Self::ip_bytes(IpAddr::V4(v4)),
                None => {
                    b[0] = 6;
                    // One client usually owns a whole /64.
                    b[1..9].copy_from_slice(&v6.octets()[..8]);
                }
            },
        }
        b
    }

    /// Counts an attempt for `username` from `ip`, or says how long to wait.
    pub(crate) fn attempt(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Charge, Duration> {
        // No address: every client is one ([0; 17] is no address's bytes).
        let client = ip.map(Self::ip_bytes).unwrap_or_default();
        let pair = self
            .pairs
            .as_ref()
            .map(|_| self.hasher.hash_one((PAIR, client, username)));
        let ip = self
            .ips
            .as_ref()
            .and(ip)
            .map(|_| self.hasher.hash_one(client));
        let user = self
            .users
            .as_ref()
            .map(|_| self.hasher.hash_one((USER, username)));
        // Both locking tables are held from check to charge (always in this
        // order), so a burst of parallel guesses cannot overshoot a limit.
        {
            let mut pairs = self.pairs.as_ref().zip(pair).map(|(t, k)| (lock(t), k));
            let mut ips = self.ips.as_ref().zip(ip).map(|(t, k)| (lock(t), k));
            let wait_pair = pairs.as_mut().and_then(|(t, k)| t.blocked(*k, now));
            let wait_ip = ips.as_mut().and_then(|(t, k)| t.blocked(*k, now));
            if let Some(wait) = wait_pair.max(wait_ip) {
                return Err(wait);
            }
            for (t, k) in pairs.iter_mut().chain(ips.iter_mut()) {
                t.charge(*k, now);
            }
        }
        let delay = match (&self.users, user) {
            (Some((t, delay)), Some(k)) => {
                let mut t = lock(t);
                let slowed = t.over(k, now);
                t.charge(k, now);
                slowed.then_some(*delay)
            }
            _ => None,
        };
        Ok(Charge {
            pair,
            ip,
            user,
            delay,
        })
    }

    /// The attempt succeeded: clear the (username, client) counter, give the
    /// client and the username their attempt back.
    pub(crate) fn success(&self, charge: Charge) {
        if let Some((t, k)) = self.pairs.as_ref().zip(charge.pair) {
            lock(t).clear(k);
        }
        self.give_back(charge, false);
    }

    /// The attempt was not a verdict on the password (the store or the hasher
    /// failed): give it back.
    pub(crate) fn refund(&self, charge: Charge) {
        self.give_back(charge, true);
    }

    fn give_back(&self, charge: Charge, pair_too: bool) {
        if pair_too {
            if let Some((t, k)) = self.pairs.as_ref().zip(charge.pair) {
                lock(t).refund(k);
            }
        }
        if let Some((t, k)) = self.ips.as_ref().zip(charge.ip) {
            lock(t).refund(k);
        }
        if let Some(((t, _), k)) = self.users.as_ref().zip(charge.user) {
            lock(t).refund(k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize, usize) {
        (
            self.pairs.as_ref().map_or(0, |t| lock(t).map.len()),
            self.ips.as_ref().map_or(0, |t| lock(t).map.len()),
            self.users.as_ref().map_or(0, |(t, _)| lock(t).map.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MIN: Duration = Duration::from_secs(60);
    const SLOW: Duration = Duration::from_secs(2);

    fn state(t: &Throttle) -> ThrottleState {
        ThrottleState::new(t)
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    fn pairs_only(n: u32) -> Throttle {
        Throttle::new()
            .per_username_and_ip(n, MIN)
            .unwrap()
            .without_per_ip()
            .without_per_username()
    }

    #[test]
    fn a_pair_is_locked_after_max_failures_until_its_window_closes() {
        let s = state(&pairs_only(3));
        let t0 = Instant::now();
        for _ in 0..3 {
            s.attempt("john", ip(1), t0).unwrap();
        }
        let wait = s
            .attempt("john", ip(1), t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // The owner, from another address, is not locked out.
        s.attempt("john", ip(2), t0).unwrap();
        // Another user from the same address is unaffected.
        s.attempt("jane", ip(1), t0).unwrap();
        // The window closes: a fresh start.
        s.attempt("john", ip(1), t0 + MIN).unwrap();
    }

    #[test]
    fn without_an_address_all_clients_are_one() {
        let s = state(&pairs_only(1));
        let t0 = Instant::now();
        s.attempt("john", None, t0).unwrap();
        assert!(s.attempt("john", None, t0).is_err());
        s.attempt("john", ip(1), t0).unwrap();
    }

    #[test]
    fn success_clears_the_pair_and_refund_gives_back() {
        let s = state(&pairs_only(2));
        let t0 = Instant::now();
        let c = s.attempt("john", ip(1), t0).unwrap();
        s.refund(c);
        let c = s.attempt("john", ip(1), t0).unwrap();
        s.attempt("john", ip(1), t0).unwrap();
        assert!(s.attempt("john", ip(1), t0).is_err());
        s.success(c);
        s.attempt("john", ip(1), t0).unwrap();
    }

    #[test]
    fn per_ip_counts_across_usernames_and_ipv6_by_prefix() {
        let s = state(&Throttle::disabled().per_ip(2, MIN).unwrap());
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        s.attempt("u1", Some(a), t0).unwrap();
        s.attempt("u2", Some(b), t0).unwrap();
        assert!(s.attempt("u3", Some(a), t0).is_err());
        let other = IpAddr::V4(Ipv4Addr::LOCALHOST);
        s.attempt("u3", Some(other), t0).unwrap();
        // No address known: the per-client counter does not apply.
        s.attempt("u3", None, t0).unwrap();
        // IPv4-mapped IPv6 is the IPv4 client.
        let s = state(&Throttle::disabled().per_ip(1, MIN).unwrap());
        s.attempt("u", ip(9), t0).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert!(s.attempt("u", Some(mapped), t0).is_err());
    }

    #[test]
    fn the_username_over_all_clients_is_slowed_never_locked() {
        let s = state(&Throttle::disabled().per_username(3, MIN, SLOW).unwrap());
        let t0 = Instant::now();
        for i in 0..3 {
            let c = s.attempt("john", ip(i), t0).unwrap();
            assert_eq!(c.delay, None, "attempt {i}");
        }
        for i in 3..50 {
            let c = s.attempt("john", ip(i), t0).unwrap();
            assert_eq!(c.delay, Some(SLOW), "attempt {i}");
        }
        // Another username is not slowed; the window's end lifts it.
        assert_eq!(s.attempt("jane", ip(1), t0).unwrap().delay, None);
        assert_eq!(s.attempt("john", ip(1), t0 + MIN).unwrap().delay, None);
    }

    #[test]
    fn a_success_does_not_wipe_other_clients_failures_for_the_username() {
        let s = state(
            &Throttle::new()
                .per_username_and_ip(10, MIN)
                .unwrap()
                .per_username(2, MIN, SLOW)
                .unwrap(),
        );
        let t0 = Instant::now();
        s.attempt("john", ip(1), t0).unwrap();
        s.attempt("john", ip(2), t0).unwrap();
        let owner = s.attempt("john", ip(3), t0).unwrap();
        assert_eq!(owner.delay, Some(SLOW));
        s.success(owner);
        assert_eq!(s.attempt("john", ip(4), t0).unwrap().delay, Some(SLOW));
    }

    #[test]
    fn parallel_attempts_never_overshoot_a_lock() {
        let s = std::sync::Arc::new(state(&pairs_only(5)));
        let t0 = Instant::now();
        let passed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let s = &s;
                    scope.spawn(move || {
                        (0..50)
                            .filter(|_| s.attempt("john", ip(1), t0).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 5);
    }

    #[test]
    fn memory_is_bounded() {
        let s = state(&Throttle::new().max_entries(100).unwrap());
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(i));
            let _ = s.attempt(
                &format!("user{i}"),
                Some(ip),
                t0 + Duration::from_millis(i.into()),
            );
        }
        let (pairs, ips, users) = s.len();
        assert!(
            pairs <= 100 && ips <= 100 && users <= 100,
            "{pairs} {ips} {users}"
        );
    }
}
