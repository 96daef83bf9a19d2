//! Password hashing with argon2id, off the async executor threads.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::ConfigError;

/// The default time a hash waits for a free slot before it is refused (1 s).
pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Hashes stored with more memory than this are refused at verification (2 GiB,
/// RFC 9106's first recommended option), so that a corrupt or hostile entry in a
/// user store cannot exhaust memory.
pub const MAX_VERIFY_M_COST: u32 = 2 * 1024 * 1024;
/// Hashes stored with more passes than this are refused at verification.
pub const MAX_VERIFY_T_COST: u32 = 32;
/// Hashes stored with more lanes than this are refused at verification.
pub const MAX_VERIFY_P_COST: u32 = 255;

/// Hashes and verifies passwords with argon2, on tokio's blocking pool and behind
/// a semaphore.
///
/// - **New hashes** are argon2id (v=19) with the policy's parameters: by default
///   the `argon2` crate's, which are OWASP's minimum (19 MiB, t=2, p=1), with a
///   16-byte random salt and a 32-byte output, as a PHC string.
/// - **Verification** reads the parameters from the PHC string, so hashes made by
///   Python's pwdlib or argon2-cffi (`m=65536,t=3,p=4`, the FastAPI tutorial's)
///   verify, and ours verify there. Parameters above [`MAX_VERIFY_M_COST`],
///   [`MAX_VERIFY_T_COST`] or [`MAX_VERIFY_P_COST`] are refused.
/// - **Concurrency**: at most [`max_concurrent`](PasswordHasherBuilder::max_concurrent)
///   hashes run at once (default: the number of CPUs), each on
///   [`tokio::task::spawn_blocking`], never on an executor thread. One argon2
///   run holds `m` KiB of memory, so the peak is about permits × `m`. Past the
///   bound a request waits up to [`queue_wait`](PasswordHasherBuilder::queue_wait)
///   for a slot, then gets [`HashError::Busy`] (the token endpoint answers 503
///   with `Retry-After`). A permit is held until the blocking work ends, even if
///   the request that started it was dropped, so the bound holds under a storm.
/// - **Memory**: each slot's argon2 memory is one buffer, kept and reused
///   (grown when a stored hash needs more), so hashing memory stays at
///   slots × the largest `m` seen. (Allocating and freeing tens of MiB per
///   login instead lets glibc's allocator keep a copy per thread arena: a
///   login storm then peaked at 462 MiB RSS for 2 slots of 19 MiB.)
/// - **Unknown users** are verified against a dummy hash, so they cost the
///   same argon2 work as a wrong password, whatever the stored hashes'
///   parameters; nothing needs setting. The dummy starts with the policy's
///   parameters and only ever goes up, to those of the costliest stored hash
///   seen (see [`dummy_params`](Self::dummy_params) for the cost order):
///   - when a [`TokenEndpoint`](super::TokenEndpoint) is built, from every hash
///     its store can list ([`UserStore::for_each_password_hash`](super::UserStore::for_each_password_hash):
///     [`MemoryStore`](super::MemoryStore) and users files do), so the first
///     unknown username already costs what the FastAPI tutorial's
///     `m=65536,t=3,p=4` hashes cost;
///   - at run time, from every stored hash verified ([`verify`](Self::verify),
///     [`verify_and_update`](Self::verify_and_update), the endpoint), so a
///     store that cannot list its users (a database) converges after the
///     first login with each heavier parameter set;
///   - by hand with [`calibrate_dummy`](Self::calibrate_dummy).
///
///   Stored hashes are bounded by [`MAX_VERIFY_M_COST`], [`MAX_VERIFY_T_COST`]
///   and [`MAX_VERIFY_P_COST`], and so is the dummy. When the stored hashes'
///   parameters differ, a known user whose hash is cheaper than the dummy
///   answers faster than an unknown one; hashes weaker than the policy are
///   rehashed at their next successful login. See also
///   [`dummy_verifications`](Self::dummy_verifications).
///
/// The async methods need a tokio runtime with the time driver enabled
/// (`#[tokio::main]` enables it).
///
/// It is cheap to clone: clones share the semaphore and the counters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_jwt_auth::token::PasswordHasher;
///
/// let hasher = PasswordHasher::new();
/// let tutorial = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// assert!(hasher.verify(b"secret", tutorial).await?);
/// assert!(!hasher.verify(b"wrong", tutorial).await?);
/// // 64 MiB and 3 passes are stronger than the policy: no rehash needed.
/// assert!(!hasher.needs_rehash(tutorial));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    semaphore: Arc<Semaphore>,
    permits: usize,
    queue_wait: Duration,
    /// The dummy hash: only ever replaced by a costlier one ([`cost`]).
    dummy: ArcSwap<Dummy>,
    dummy_runs: AtomicU64,
    /// argon2 memory, one buffer per slot at most, reused (grow-only): freeing
    /// and reallocating tens of MiB per login lets the allocator keep a copy
    /// per thread arena, far past the bound.
    buffers: Mutex<Vec<Vec<Block>>>,
}

/// The dummy hash that unknown users are verified against, and its parameters.
struct Dummy {
    phc: String,
    params: Params,
}

impl Dummy {
    fn new(params: &Params) -> Result<Self, getrandom::Error> {
        Ok(Self {
            phc: dummy_hash(params)?,
            params: params.clone(),
        })
    }
}

/// The order of argon2 parameter sets by cost, the dummy's ratchet: first the
/// work, memory blocks × passes (argon2 fills `m` KiB, rounded down to a
/// multiple of 4 × lanes, `t` times; without the `argon2` crate's `parallel`
/// feature, which this crate does not enable, the lanes are computed one after
/// another, so lanes add no work), then memory, then lanes, so that the order
/// is total and a tie keeps the hash that needs more of each.
fn cost(params: &Params) -> (u64, u32, u32) {
    let blocks = u64::try_from(params.block_count()).unwrap_or(u64::MAX);
    (
        blocks.saturating_mul(u64::from(params.t_cost())),
        params.m_cost(),
        params.p_cost(),
    )
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.inner.params;
        f.debug_struct("PasswordHasher")
            .field("algorithm", &"argon2id")
            .field("m_cost", &p.m_cost())
            .field("t_cost", &p.t_cost())
            .field("p_cost", &p.p_cost())
            .field("max_concurrent", &self.inner.permits)
            .field("queue_wait", &self.inner.queue_wait)
            .finish_non_exhaustive()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of [`PasswordHasher::verify_and_update`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verified {
    /// The password does not match.
    NoMatch,
    /// The password matches; `new_hash` is a fresh hash with the current policy
    /// when the stored one needed a rehash.
    Match {
        /// The new PHC string to store, if the stored hash was weaker than the policy.
        new_hash: Option<String>,
    },
}

impl Verified {
    /// Whether the password matched.
    pub fn is_match(&self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMatch => f.write_str("NoMatch"),
            Self::Match { new_hash } => f
                .debug_struct("Match")
                .field("new_hash", &new_hash.as_ref().map(|_| "[redacted]"))
                .finish(),
        }
    }
}

/// Why hashing or verifying failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// Every slot was taken for the whole queue wait; retry after `retry_after`.
    Busy {
        /// A hint for the `Retry-After` header.
        retry_after: Duration,
    },
    /// The stored hash is not an argon2 PHC string, or its parameters exceed the
    /// verification limits. The reason never contains the hash.
    InvalidHash(&'static str),
    /// The argon2 computation or the random generator failed, or the blocking
    /// task panicked.
    Internal,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy { .. } => f.write_str("all password hashing slots are busy"),
            Self::InvalidHash(reason) => write!(f, "invalid password hash: {reason}"),
            Self::Internal => f.write_str("password hashing failed"),
        }
    }
}

impl std::error::Error for HashError {}

/// Builds a [`PasswordHasher`]. See [`PasswordHasher::builder`].
#[derive(Debug)]
#[must_use]
pub struct PasswordHasherBuilder {
    params: Params,
    permits: Option<usize>,
    semaphore: Option<Arc<Semaphore>>,
    queue_wait: Duration,
}

impl PasswordHasherBuilder {
    /// Sets the argon2id parameters for new hashes and the dummy hash's starting
    /// point (see [`PasswordHasher::dummy_params`]): memory in KiB, passes,
    /// lanes. The default is the `argon2` crate's (OWASP's minimum:
    /// `19456, 2, 1`); pwdlib's `PasswordHash.recommended()` is `65536, 3, 4`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if argon2 refuses the parameters (memory under
    /// 8 × lanes KiB, zero passes, ...) or they exceed the verification limits.
    pub fn params(
        mut self,
        m_cost_kib: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self, ConfigError> {
        if m_cost_kib > MAX_VERIFY_M_COST
            || t_cost > MAX_VERIFY_T_COST
            || p_cost > MAX_VERIFY_P_COST
        {
            return Err(ConfigError::Invalid(format!(
                "argon2 parameters m={m_cost_kib},t={t_cost},p={p_cost} exceed the verification \
                 limits (m ≤ {MAX_VERIFY_M_COST}, t ≤ {MAX_VERIFY_T_COST}, p ≤ {MAX_VERIFY_P_COST})"
            )));
        }
        self.params = Params::new(m_cost_kib, t_cost, p_cost, Some(Params::DEFAULT_OUTPUT_LEN))
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "invalid argon2 parameters m={m_cost_kib},t={t_cost},p={p_cost}: {e}"
                ))
            })?;
        Ok(self)
    }

    /// Sets how many hashes may run at once (default: `available_parallelism`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for zero.
    pub fn max_concurrent(mut self, permits: usize) -> Result<Self, ConfigError> {
        if permits == 0 || permits > Semaphore::MAX_PERMITS {
            return Err(ConfigError::Invalid(
                "the password hasher needs at least one concurrent slot".into(),
            ));
        }
        self.permits = Some(permits);
        self.semaphore = None;
        Ok(self)
    }

    /// Uses `semaphore` as the bound, shared with other CPU-heavy work of the
    /// process (another endpoint that hashes, a second hasher). Replaces
    /// [`max_concurrent`](Self::max_concurrent).
    pub fn semaphore(mut self, semaphore: Arc<Semaphore>) -> Self {
        self.semaphore = Some(semaphore);
        self.permits = None;
        self
    }

    /// Sets how long a hash waits for a free slot before it fails with
    /// [`HashError::Busy`] (default [`DEFAULT_QUEUE_WAIT`]). Zero refuses at once
    /// when no slot is free.
    pub fn queue_wait(mut self, wait: Duration) -> Self {
        self.queue_wait = wait;
        self
    }

    /// Builds the hasher.
    ///
    /// # Panics
    ///
    /// If the operating system's random generator fails (it makes the dummy
    /// hash's salt).
    pub fn build(self) -> PasswordHasher {
        let (semaphore, permits) = match self.semaphore {
            Some(s) => {
                let n = s.available_permits();
                (s, n)
            }
            None => {
                let n = self.permits.unwrap_or_else(default_permits);
                (Arc::new(Semaphore::new(n)), n)
            }
        };
        let dummy = Dummy::new(&self.params).expect("the OS random generator failed");
        PasswordHasher {
            inner: Arc::new(Inner {
                params: self.params,
                semaphore,
                permits,
                queue_wait: self.queue_wait,
                dummy: ArcSwap::from_pointee(dummy),
                dummy_runs: AtomicU64::new(0),
                buffers: Mutex::new(Vec::new()),
            }),
        }
    }
}

fn default_permits() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A PHC string with `params`, a random salt and a random output:
/// verifying against it costs exactly one argon2 run with those parameters and
/// never matches (a 2^-256 chance).
fn dummy_hash(params: &Params) -> Result<String, getrandom::Error> {
    let mut salt = [0u8; 16];
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    getrandom::fill(&mut salt)?;
    getrandom::fill(&mut out)?;
    Ok(format_phc(params, &salt, &out))
}

/// `$argon2id$v=19$m=..,t=..,p=..$salt$hash`, B64 without padding.
fn format_phc(params: &Params, salt: &[u8], out: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out),
    )
}

/// A parsed stored hash, checked against the verification limits.
fn parse_stored(phc: &str) -> Result<PasswordHash, HashError> {
    let hash = PasswordHash::new(phc).map_err(|_| HashError::InvalidHash("not a PHC string"))?;
    if Algorithm::try_from(hash.algorithm.as_str()).is_err() {
        return Err(HashError::InvalidHash("not an argon2 hash"));
    }
    let params =
        Params::try_from(&hash).map_err(|_| HashError::InvalidHash("invalid argon2 parameters"))?;
    if params.m_cost() > MAX_VERIFY_M_COST
        || params.t_cost() > MAX_VERIFY_T_COST
        || params.p_cost() > MAX_VERIFY_P_COST
    {
        return Err(HashError::InvalidHash(
            "argon2 parameters exceed the verification limits",
        ));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(HashError::InvalidHash("missing salt or output"));
    }
    Ok(hash)
}

/// Checks that `phc` is an argon2 PHC string this crate can verify; the users
/// file loader uses it.
pub(crate) fn check_stored(phc: &str) -> Result<(), &'static str> {
    match parse_stored(phc) {
        Ok(_) => Ok(()),
        Err(HashError::InvalidHash(reason)) => Err(reason),
        Err(_) => Err("invalid hash"),
    }
}

/// What a blocking verification job checks the password against.
pub(crate) enum Target {
    /// A stored hash.
    Stored(String),
    /// The dummy hash (unknown user, or an unusable stored hash).
    Dummy,
}

impl PasswordHasher {
    /// A hasher with the default policy: argon2id, OWASP's parameters, as many
    /// slots as CPUs, a 1 s queue wait.
    ///
    /// # Panics
    ///
    /// If the operating system's random generator fails.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set the parameters, the concurrency bound and the queue wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_jwt_auth::token::PasswordHasher;
    ///
    /// // pwdlib's `PasswordHash.recommended()`, at most 2 at once, 200 ms of queueing.
    /// let hasher = PasswordHasher::builder()
    ///     .params(65536, 3, 4)?
    ///     .max_concurrent(2)?
    ///     .queue_wait(Duration::from_millis(200))
    ///     .build();
    /// assert_eq!(hasher.m_cost(), 65536);
    /// # Ok::<(), tower_jwt_auth::ConfigError>(())
    /// ```
    pub fn builder() -> PasswordHasherBuilder {
        PasswordHasherBuilder {
            params: Params::DEFAULT,
            permits: None,
            semaphore: None,
            queue_wait: DEFAULT_QUEUE_WAIT,
        }
    }

    /// The policy's memory cost, in KiB.
    pub fn m_cost(&self) -> u32 {
        self.inner.params.m_cost()
    }

    /// The policy's number of passes.
    pub fn t_cost(&self) -> u32 {
        self.inner.params.t_cost()
    }

    /// The policy's number of lanes.
    pub fn p_cost(&self) -> u32 {
        self.inner.params.p_cost()
    }

    /// How many hashes may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.permits
    }

    /// How many slots are free now.
    pub fn available_slots(&self) -> usize {
        self.inner.semaphore.available_permits()
    }

    /// How many times a password was checked against the dummy hash (an unknown
    /// user, or a stored hash that could not be used). For tests and metrics.
    ///
    /// Each such check costs one argon2 run with [`dummy_params`](Self::dummy_params):
    /// the policy's, or those of the costliest stored hash seen if they cost
    /// more, so that it costs what verifying a real password would.
    pub fn dummy_verifications(&self) -> u64 {
        self.inner.dummy_runs.load(Ordering::Relaxed)
    }

    /// The dummy hash's parameters now, `(m_cost_kib, t_cost, p_cost)`.
    ///
    /// They start as the policy's and are raised, never lowered, to those of
    /// any stored hash that costs more. Cost is compared as argon2's work,
    /// memory blocks × passes (`m` rounded down to a multiple of 4 × `p`,
    /// times `t`); equal work is broken by more memory, then more lanes. So
    /// `m=65536,t=3,p=4` (pwdlib's) costs more than `m=19456,t=2,p=1`
    /// (OWASP's), and `m=8192,t=10,p=1` more than `m=65536,t=1,p=1`. The
    /// dummy always has the parameters of the policy or of one stored hash,
    /// never a mix, so it is bounded by the verification limits.
    ///
    /// ```
    /// use tower_jwt_auth::token::PasswordHasher;
    ///
    /// let hasher = PasswordHasher::new();
    /// assert_eq!(hasher.dummy_params(), (19456, 2, 1));
    /// let tutorial = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
    /// assert!(hasher.calibrate_dummy(tutorial));
    /// assert_eq!(hasher.dummy_params(), (65536, 3, 4));
    /// // New hashes still use the policy.
    /// assert_eq!(hasher.m_cost(), 19456);
    /// ```
    pub fn dummy_params(&self) -> (u32, u32, u32) {
        let d = self.inner.dummy.load();
        (d.params.m_cost(), d.params.t_cost(), d.params.p_cost())
    }

    /// Raises the dummy hash to the parameters of the stored hash `phc` if
    /// they cost more than the dummy's ([`dummy_params`](Self::dummy_params));
    /// `true` if it was raised. A string that cannot be verified (not argon2,
    /// past the verification limits) changes nothing.
    ///
    /// Every verification of a stored hash does this, and a
    /// [`TokenEndpoint`](super::TokenEndpoint) does it when built for each
    /// hash of [`UserStore::for_each_password_hash`](super::UserStore::for_each_password_hash).
    /// Call it at start-up with one hash of each parameter set a store holds
    /// when the store cannot list them, so that unknown usernames cost the
    /// same from the first login on.
    pub fn calibrate_dummy(&self, phc: &str) -> bool {
        match parse_stored(phc).map(|h| Params::try_from(&h)) {
            Ok(Ok(params)) => self.raise_dummy(&params),
            _ => false,
        }
    }

    /// Replaces the dummy with one of `params` if they cost more; `true` if so.
    fn raise_dummy(&self, params: &Params) -> bool {
        let key = cost(params);
        if key <= cost(&self.inner.dummy.load().params) {
            return false;
        }
        // A failing random generator leaves the dummy as it is.
        let Ok(new) = Dummy::new(params) else {
            return false;
        };
        let new = Arc::new(new);
        let previous = self.inner.dummy.rcu(|current| {
            if key > cost(&current.params) {
                new.clone()
            } else {
                current.clone()
            }
        });
        let raised = key > cost(&previous.params);
        #[cfg(feature = "tracing")]
        if raised {
            tracing::debug!(
                m_cost = params.m_cost(),
                t_cost = params.t_cost(),
                p_cost = params.p_cost(),
                "the dummy hash for unknown users now has a stored hash's costlier parameters"
            );
        }
        raised
    }

    /// Runs `f` on at least `blocks` argon2 blocks from the buffer pool.
    fn with_memory<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let pool = || {
            self.inner
                .buffers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        let mut buf = pool().pop().unwrap_or_default();
        if buf.len() < blocks {
            buf.resize(blocks, Block::default());
        }
        let out = f(&mut buf[..blocks]);
        let mut pool = pool();
        if pool.len() < self.inner.permits {
            pool.push(buf);
        }
        out
    }

    /// Hashes `password` with the policy on the current thread, without the
    /// semaphore: for command-line tools and tests, not for request handlers.
    ///
    /// # Errors
    ///
    /// [`HashError::Internal`] if the random generator or argon2 fails.
    pub fn hash_blocking(&self, password: &[u8]) -> Result<String, HashError> {
        let params = &self.inner.params;
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| HashError::Internal)?;
        let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        self.with_memory(params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, &salt, &mut out, memory)
        })
        .map_err(|_| HashError::Internal)?;
        Ok(format_phc(params, &salt, &out))
    }

    /// Whether `password` matches `hash` (parameters from the hash; constant-time
    /// comparison of the outputs).
    fn matches(&self, password: &[u8], hash: &PasswordHash) -> Result<bool, HashError> {
        fn bad<E>(_: E) -> HashError {
            HashError::InvalidHash("invalid argon2 parameters")
        }
        let params = Params::try_from(hash).map_err(bad)?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(bad)?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).map_err(bad)?,
            None => Version::default(),
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return Err(HashError::InvalidHash("missing salt or output"));
        };
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        self.with_memory(blocks, |memory| {
            argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut out, memory)
        })
        .map_err(|_| HashError::Internal)?;
        let out = Output::new(&out).map_err(|_| HashError::Internal)?;
        Ok(out == *expected)
    }

    /// Hashes `password` with the policy, on the blocking pool.
    ///
    /// # Errors
    ///
    /// [`HashError::Busy`] when no slot frees up within the queue wait, and
    /// [`HashError::Internal`] if hashing fails.
    pub async fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        let permit = self.permit().await?;
        let this = self.clone();
        let password = password.to_vec();
        run_blocking(permit, move || this.hash_blocking(&password)).await?
    }

    /// Whether `password` matches the PHC string `phc`, on the blocking pool.
    ///
    /// # Errors
    ///
    /// [`HashError::InvalidHash`] if `phc` cannot be verified (checked before
    /// waiting for a slot), [`HashError::Busy`] and [`HashError::Internal`] as
    /// for [`hash`](Self::hash).
    pub async fn verify(&self, password: &[u8], phc: &str) -> Result<bool, HashError> {
        parse_stored(phc)?;
        let v = self
            .run_verify(password.to_vec(), Target::Stored(phc.to_owned()), false)
            .await?;
        Ok(v.is_match())
    }

    /// Verifies `password` against `phc` and, when it matches and `phc` is weaker
    /// than the policy ([`needs_rehash`](Self::needs_rehash)), hashes it again
    /// with the policy in the same blocking job: pwdlib's `verify_and_update`.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub async fn verify_and_update(
        &self,
        password: &[u8],
        phc: &str,
    ) -> Result<Verified, HashError> {
        parse_stored(phc)?;
        self.run_verify(password.to_vec(), Target::Stored(phc.to_owned()), true)
            .await
    }

    /// Checks `password` against the dummy hash: the same argon2 work as a real
    /// verification of the costliest hash seen ([`dummy_params`](Self::dummy_params)),
    /// and never a match.
    ///
    /// # Errors
    ///
    /// [`HashError::Busy`] and [`HashError::Internal`] as for [`hash`](Self::hash).
    pub async fn verify_dummy(&self, password: &[u8]) -> Result<(), HashError> {
        self.run_verify(password.to_vec(), Target::Dummy, false)
            .await
            .map(drop)
    }

    /// Verifies on the blocking pool. An unusable stored hash falls back to the
    /// dummy hash (same work, no match), so the caller's answer does not depend
    /// on it.
    pub(crate) async fn run_verify(
        &self,
        password: Vec<u8>,
        target: Target,
        rehash: bool,
    ) -> Result<Verified, HashError> {
        let permit = self.permit().await?;
        let this = self.clone();
        run_blocking(permit, move || {
            this.verify_blocking(&password, &target, rehash)
        })
        .await?
    }

    fn verify_blocking(
        &self,
        password: &[u8],
        target: &Target,
        rehash: bool,
    ) -> Result<Verified, HashError> {
        let stored = match target {
            Target::Stored(phc) => parse_stored(phc).ok(),
            Target::Dummy => None,
        };
        let Some(hash) = stored else {
            self.inner.dummy_runs.fetch_add(1, Ordering::Relaxed);
            let dummy = self.inner.dummy.load_full();
            let dummy = PasswordHash::new(&dummy.phc).map_err(|_| HashError::Internal)?;
            // The result is irrelevant: the work is what matters.
            self.matches(password, &dummy)?;
            return Ok(Verified::NoMatch);
        };
        // A real verification of a costlier hash than the dummy's raises the
        // dummy, so that unknown users cost the same from now on.
        if let Ok(params) = Params::try_from(&hash) {
            self.raise_dummy(&params);
        }
        if !self.matches(password, &hash)? {
            return Ok(Verified::NoMatch);
        }
        let new_hash = if rehash && self.weaker(&hash) {
            Some(self.hash_blocking(password)?)
        } else {
            None
        };
        Ok(Verified::Match { new_hash })
    }

    /// Whether `phc` is weaker than the policy and should be replaced at the next
    /// successful login: not argon2id, not version 19, less memory or fewer
    /// passes than the policy, or a shorter output or salt than this crate makes.
    /// A string that cannot be parsed needs a rehash too.
    ///
    /// More lanes or more memory than the policy do not trigger a rehash (the
    /// FastAPI tutorial's 64 MiB, t=3, p=4 hashes are kept).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        parse_stored(phc).map_or(true, |h| self.weaker(&h))
    }

    fn weaker(&self, hash: &PasswordHash) -> bool {
        let policy = &self.inner.params;
        let Ok(params) = Params::try_from(hash) else {
            return true;
        };
        hash.algorithm.as_str() != "argon2id"
            || hash.version != Some(0x13)
            || params.m_cost() < policy.m_cost()
            || params.t_cost() < policy.t_cost()
            || params.output_len().unwrap_or(0)
                < policy.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
            || hash.salt.as_ref().map_or(0, |s| s.len()) < 16
    }

    /// A slot, waiting at most the queue wait.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, HashError> {
        let wait = self.inner.queue_wait;
        let busy = HashError::Busy {
            retry_after: Duration::from_secs(1),
        };
        let sem = self.inner.semaphore.clone();
        match sem.clone().try_acquire_owned() {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::Closed) => return Err(busy),
            Err(TryAcquireError::NoPermits) if wait.is_zero() => return Err(busy),
            Err(TryAcquireError::NoPermits) => {}
        }
        match tokio::time::timeout(wait, sem.acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(busy),
        }
    }
}

/// Runs `f` on the blocking pool, holding `permit` until it returns (even if the
/// caller stops waiting).
async fn run_blocking<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    tokio::task::spawn_blocking(move || {
        let out = f();
        drop(permit);
        out
    })
    .await
    .map_err(|_| HashError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_has_the_policy_params() {
        let params = Params::new(8192, 1, 1, None).unwrap();
        let dummy = dummy_hash(&params).unwrap();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"),
            "{dummy}"
        );
        let parsed = parse_stored(&dummy).unwrap();
        assert_eq!(Params::try_from(&parsed).unwrap().m_cost(), 8192);
    }

    const SALT: &str = "wagCPXjifgvUFBzq4hqe3w";
    const OUT: &str = "CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";

    fn phc(params: &str) -> String {
        format!("$argon2id$v=19${params}${SALT}${OUT}")
    }

    fn small() -> PasswordHasher {
        PasswordHasher::builder()
            .params(8192, 1, 1)
            .unwrap()
            .build()
    }

    #[test]
    fn dummy_starts_with_the_policy() {
        let h = small();
        assert_eq!(h.dummy_params(), (8192, 1, 1));
        assert!(h
            .inner
            .dummy
            .load()
            .phc
            .starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
    }

    #[test]
    fn dummy_is_raised_to_a_heavier_hash_and_never_lowered() {
        let h = small();
        assert!(h.calibrate_dummy(&phc("m=65536,t=3,p=4")));
        assert_eq!(h.dummy_params(), (65536, 3, 4));
        let first = h.inner.dummy.load().phc.clone();
        assert!(
            first.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
            "{first}"
        );
        assert!(parse_stored(&first).is_ok());
        // Cheaper or equal: unchanged, same salt.
        for lighter in [
            "m=19456,t=2,p=1",
            "m=65536,t=3,p=4",
            "m=8192,t=1,p=1",
            "m=65536,t=2,p=4",
        ] {
            assert!(!h.calibrate_dummy(&phc(lighter)), "{lighter}");
            assert_eq!(h.dummy_params(), (65536, 3, 4), "{lighter}");
        }
        assert_eq!(h.inner.dummy.load().phc, first);
        // More work with less memory still raises it (m×t).
        assert!(h.calibrate_dummy(&phc("m=32768,t=8,p=1")));
        assert_eq!(h.dummy_params(), (32768, 8, 1));
        // Clones share the dummy.
        let clone = h.clone();
        assert_eq!(clone.dummy_params(), (32768, 8, 1));
        assert!(clone.calibrate_dummy(&phc("m=65536,t=8,p=1")));
        assert_eq!(h.dummy_params(), (65536, 8, 1));
    }

    #[test]
    fn equal_work_prefers_more_memory_then_more_lanes() {
        let h = small();
        assert!(h.calibrate_dummy(&phc("m=16384,t=4,p=1")));
        assert!(h.calibrate_dummy(&phc("m=32768,t=2,p=1")));
        assert_eq!(h.dummy_params(), (32768, 2, 1));
        assert!(h.calibrate_dummy(&phc("m=32768,t=2,p=2")));
        assert_eq!(h.dummy_params(), (32768, 2, 2));
        assert!(!h.calibrate_dummy(&phc("m=16384,t=4,p=4")));
        assert!(cost(&Params::new(65536, 3, 4, None).unwrap()) > cost(&Params::DEFAULT));
    }

    #[test]
    fn dummy_stays_within_the_verification_limits() {
        let h = small();
        // Past the limits: refused, the dummy does not follow.
        for huge in [
            format!("m={},t=1,p=1", MAX_VERIFY_M_COST + 1),
            format!("m=8192,t={},p=1", MAX_VERIFY_T_COST + 1),
            "m=4194304,t=32,p=1".to_owned(),
        ] {
            assert!(!h.calibrate_dummy(&phc(&huge)), "{huge}");
            assert_eq!(h.dummy_params(), (8192, 1, 1), "{huge}");
        }
        assert!(!h.calibrate_dummy("garbage"));
        assert!(!h.calibrate_dummy("$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW"));
        // At the limits: followed, and still verifiable.
        let max = format!("m={MAX_VERIFY_M_COST},t={MAX_VERIFY_T_COST},p=4");
        assert!(h.calibrate_dummy(&phc(&max)));
        assert_eq!(h.dummy_params(), (MAX_VERIFY_M_COST, MAX_VERIFY_T_COST, 4));
        assert!(parse_stored(&h.inner.dummy.load().phc).is_ok());
    }

    #[test]
    fn a_real_verification_raises_the_dummy() {
        let h = small();
        let heavier = PasswordHasher::builder()
            .params(16384, 2, 2)
            .unwrap()
            .build()
            .hash_blocking(b"pw")
            .unwrap();
        // A wrong password against a stored hash raises it too.
        let v = h
            .verify_blocking(b"wrong", &Target::Stored(heavier), false)
            .unwrap();
        assert_eq!(v, Verified::NoMatch);
        assert_eq!(h.dummy_params(), (16384, 2, 2));
        // The dummy path itself changes nothing and never matches.
        let v = h.verify_blocking(b"pw", &Target::Dummy, false).unwrap();
        assert_eq!(v, Verified::NoMatch);
        assert_eq!(h.dummy_params(), (16384, 2, 2));
        assert_eq!(h.dummy_verifications(), 1);
        // A lighter verified hash does not lower it.
        let lighter = h.hash_blocking(b"pw").unwrap();
        assert!(h
            .verify_blocking(b"pw", &Target::Stored(lighter), false)
            .unwrap()
            .is_match());
        assert_eq!(h.dummy_params(), (16384, 2, 2));
    }

    #[test]
    fn concurrent_raises_keep_the_costliest() {
        let h = small();
        let sets = [
            "m=16384,t=1,p=1",
            "m=65536,t=3,p=4",
            "m=19456,t=2,p=1",
            "m=32768,t=2,p=1",
        ];
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for p in sets {
                        h.calibrate_dummy(&phc(p));
                    }
                });
            }
        });
        assert_eq!(h.dummy_params(), (65536, 3, 4));
    }

    #[test]
    fn limits_refuse_huge_memory() {
        let s = "$argon2id$v=19$m=4194304,t=1,p=1$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
        assert!(matches!(parse_stored(s), Err(HashError::InvalidHash(_))));
    }

    #[test]
    fn rejects_non_argon2() {
        assert!(
            check_stored("$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW").is_err()
        );
        assert!(check_stored("plain").is_err());
        assert!(check_stored("").is_err());
    }

    #[test]
    fn rehash_rules() {
        let h = PasswordHasher::builder()
            .params(19456, 2, 1)
            .unwrap()
            .build();
        let salt = "wagCPXjifgvUFBzq4hqe3w";
        let out = "CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
        let at = |p: &str| format!("$argon2id$v=19${p}${salt}${out}");
        assert!(!h.needs_rehash(&at("m=65536,t=3,p=4")));
        assert!(!h.needs_rehash(&at("m=19456,t=2,p=1")));
        assert!(h.needs_rehash(&at("m=8192,t=2,p=1")));
        assert!(h.needs_rehash(&at("m=65536,t=1,p=1")));
        assert!(h.needs_rehash(&format!("$argon2i$v=19$m=65536,t=3,p=4${salt}${out}")));
        assert!(h.needs_rehash(&format!("$argon2id$v=16$m=65536,t=3,p=4${salt}${out}")));
        assert!(h.needs_rehash("garbage"));
    }

    #[test]
    fn memory_pool_keeps_at_most_one_buffer_per_slot() {
        let h = PasswordHasher::builder()
            .params(8192, 1, 1)
            .unwrap()
            .max_concurrent(2)
            .unwrap()
            .build();
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| h.hash_blocking(b"pw").unwrap());
            }
        });
        let pool = h.inner.buffers.lock().unwrap();
        assert!(!pool.is_empty() && pool.len() <= 2, "{}", pool.len());
        assert!(pool.iter().all(|b| b.len() == 8192));
    }

    #[test]
    fn debug_prints_no_secret() {
        let v = Verified::Match {
            new_hash: Some("$argon2id$secret".into()),
        };
        assert!(!format!("{v:?}").contains("secret"));
        let h = PasswordHasher::builder()
            .params(8192, 1, 1)
            .unwrap()
            .build();
        assert!(!format!("{h:?}").contains('$'));
    }
}
