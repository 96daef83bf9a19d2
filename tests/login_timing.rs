//! Issue 9 §3, user enumeration by timing: `POST /token` with an unknown
//! username must cost what a known username with a wrong password costs,
//! whatever the stored hashes' parameters, with nothing to configure.
//!
//! Measured as a ratio of medians: unknown-user time / wrong-password time
//! ≥ [`MIN_RATIO`], over [`SAMPLES`] samples of each, interleaved, on real
//! sockets, for the example gateway (users files of pwdlib hashes, of
//! OWASP-policy hashes, and of a mix) and for both tutorials (pwdlib hashes).
//! Before the dummy hash followed the stored hashes, an unknown user cost one
//! run at the policy's `m=19456,t=2,p=1` against the tutorial's
//! `m=65536,t=3,p=4`: a ratio near 0.2.
//!
//! The throttle locks a username after 10 failures: each username gets at
//! most [`SAMPLES`] + 1 wrong passwords, and unknown usernames are all
//! different. The timing tests run one at a time.

#![allow(dead_code)]

#[path = "../examples/gateway/main.rs"]
mod gateway;
mod tutorial_common;
#[path = "../examples/tutorial_jwt.rs"]
mod tutorial_jwt;
#[path = "../examples/tutorial_scopes.rs"]
mod tutorial_scopes;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::sync::Mutex;
use tower_jwt_auth::token::{
    Lookup, MemoryStore, PasswordHasher, StoredUser, TokenEndpoint, UserProfile, UserStore,
};
use tower_jwt_auth::{Algorithm, SigningKey};
use tutorial_common::Server;

use gateway::config::{Config, Secret};
use gateway::server::{serve, Gateway};

/// Samples of each kind per measured user.
const SAMPLES: usize = 7;
/// The lowest acceptable unknown / wrong-password ratio of medians.
const MIN_RATIO: f64 = 0.8;

/// The FastAPI tutorial's johndoe (`secret`), pwdlib's `m=65536,t=3,p=4`.
const PWDLIB_JOHNDOE: &str = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// The tutorial's alice (`secretalice`), pwdlib's parameters.
const PWDLIB_ALICE: &str = "$argon2id$v=19$m=65536,t=3,p=4$seUaXHkm60RS/E8wPzrUyA$pbZwxKKNt+HegiOI7MbTvgrMctvid2A8eI94/hPvpfs";
/// `secretalice` with this crate's default policy, OWASP's `m=19456,t=2,p=1`.
const OWASP_CAROL: &str = "$argon2id$v=19$m=19456,t=2,p=1$2gNcOlYYheITaN2bd/k7PA$gDVQGnJUksXPr6ig1orhlON+Yk6hWTq2tRNXkyS0DAI";

/// One timing test at a time: they compete for the same cores.
static SERIAL: Mutex<()> = Mutex::const_new(());

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A fresh unknown username for every request.
fn unknown_username() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("nobody{}", N.fetch_add(1, Ordering::Relaxed))
}

/// `POST /token`, refused as bad credentials; how long it took.
async fn failed_login(server: &Server, username: &str, password: &str) -> Duration {
    let form = format!("grant_type=password&username={username}&password={password}");
    let start = Instant::now();
    let answer = server.login(&form).await;
    let took = start.elapsed();
    assert!(
        matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
        ),
        "{username}: {answer:?}"
    );
    took
}

/// The medians of unknown-user and wrong-password logins against `user`,
/// interleaved. The first request of all is an unknown user's, before any
/// stored hash was verified.
async fn medians(server: &Server, user: &str) -> (Duration, Duration) {
    // Warm-up (connection, allocator, pages): not counted.
    failed_login(server, &unknown_username(), "wrong").await;
    let mut unknown = Vec::with_capacity(SAMPLES);
    let mut wrong = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        unknown.push(failed_login(server, &unknown_username(), "wrong").await);
        wrong.push(failed_login(server, user, "wrong").await);
    }
    (median(unknown), median(wrong))
}

/// Asserts the ratio for each of `users`, printing the medians.
async fn assert_no_enumeration(case: &str, server: &Server, users: &[&str]) {
    for user in users {
        let (unknown, wrong) = medians(server, user).await;
        let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
        eprintln!(
            "{case}: {user}: unknown {:.1} ms, wrong password {:.1} ms, ratio {ratio:.2}",
            unknown.as_secs_f64() * 1e3,
            wrong.as_secs_f64() * 1e3,
        );
        assert!(
            ratio >= MIN_RATIO,
            "{case}: an unknown username answers in {unknown:?}, a wrong password for \
             {user} in {wrong:?} (ratio {ratio:.2} < {MIN_RATIO}): usernames can be enumerated"
        );
    }
}

// ---------------------------------------------------------------------------
// The gateway with a users file.

/// A users file of `(username, hash)`, in the temp dir.
struct UsersFile(std::path::PathBuf);

impl UsersFile {
    fn new(case: &str, users: &[(&str, &str)]) -> Self {
        let path =
            std::env::temp_dir().join(format!("login-timing-{case}-{}.toml", std::process::id()));
        let text: String = users
            .iter()
            .map(|(name, hash)| format!("[{name}]\nhashed_password = \"{hash}\"\n\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for UsersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn gateway_with(file: &UsersFile) -> Server {
    let config = Config {
        users: Some(file.0.clone()),
        secret: Secret::new(
            "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7".as_bytes(),
        ),
        ..Config::default()
    };
    let gateway = Gateway::new(&config).expect("valid config");
    let grace = config.shutdown_timeout;
    Server::start(move |listener, stop| async move {
        serve(
            gateway,
            listener,
            async {
                let _ = stop.await;
            },
            grace,
        )
        .await
        .map_err(Into::into)
    })
    .await
}

/// A hash of `password` with `params`, as pwdlib or the default policy makes them.
fn hash(password: &str, (m, t, p): (u32, u32, u32)) -> String {
    PasswordHasher::builder()
        .params(m, t, p)
        .unwrap()
        .build()
        .hash_blocking(password.as_bytes())
        .unwrap()
}

#[tokio::test]
async fn gateway_users_file_of_pwdlib_hashes() {
    let _serial = SERIAL.lock().await;
    let file = UsersFile::new(
        "pwdlib",
        &[
            ("johndoe", PWDLIB_JOHNDOE),
            ("alice", PWDLIB_ALICE),
            ("bob", &hash("secretbob", (65536, 3, 4))),
        ],
    );
    let server = gateway_with(&file).await;
    assert_no_enumeration("gateway, pwdlib hashes", &server, &["johndoe"]).await;
    server.stop().await;
}

#[tokio::test]
async fn gateway_users_file_of_owasp_policy_hashes() {
    let _serial = SERIAL.lock().await;
    let file = UsersFile::new(
        "owasp",
        &[
            ("carol", OWASP_CAROL),
            ("dave", &hash("secretdave", (19456, 2, 1))),
        ],
    );
    let server = gateway_with(&file).await;
    assert_no_enumeration("gateway, OWASP hashes", &server, &["carol"]).await;
    server.stop().await;
}

#[tokio::test]
async fn gateway_users_file_of_mixed_hashes() {
    let _serial = SERIAL.lock().await;
    let file = UsersFile::new(
        "mix",
        &[
            ("carol", OWASP_CAROL),
            ("johndoe", PWDLIB_JOHNDOE),
            ("dave", &hash("secretdave", (19456, 2, 1))),
        ],
    );
    let server = gateway_with(&file).await;
    // The costliest hash first: the dummy must cost at least what it costs.
    assert_no_enumeration("gateway, mixed hashes", &server, &["johndoe", "carol"]).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------
// The tutorials: their own users, pwdlib hashes.

#[tokio::test]
async fn tutorial_jwt_pwdlib_hashes() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(|listener, stop| {
        tutorial_jwt::serve(listener, async {
            let _ = stop.await;
        })
    })
    .await;
    assert_no_enumeration("tutorial_jwt", &server, &["johndoe"]).await;
    server.stop().await;
}

#[tokio::test]
async fn tutorial_scopes_pwdlib_hashes() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(|listener, stop| {
        tutorial_scopes::serve(listener, async {
            let _ = stop.await;
        })
    })
    .await;
    assert_no_enumeration("tutorial_scopes", &server, &["johndoe"]).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------
// The dummy's parameters, without timing.

fn endpoint_of<S: UserStore>(store: S) -> TokenEndpoint<S> {
    TokenEndpoint::builder(
        store,
        SigningKey::hmac(Algorithm::HS256, b"a secret of at least 32 bytes!!!").unwrap(),
    )
    .build()
}

#[test]
fn a_listing_store_sets_the_dummy_when_the_endpoint_is_built() {
    let store = MemoryStore::new()
        .with_user(StoredUser::from_profile(
            UserProfile::new("carol"),
            OWASP_CAROL,
        ))
        .with_user(StoredUser::from_profile(
            UserProfile::new("johndoe"),
            PWDLIB_JOHNDOE,
        ));
    let endpoint = endpoint_of(store);
    assert_eq!(endpoint.hasher().dummy_params(), (65536, 3, 4));
    // New hashes keep the policy.
    assert_eq!(endpoint.hasher().m_cost(), 19456);

    let owasp = endpoint_of(MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("carol"),
        OWASP_CAROL,
    )));
    assert_eq!(owasp.hasher().dummy_params(), (19456, 2, 1));
}

/// A store that cannot list its users, as a database.
struct Opaque(MemoryStore);

impl UserStore for Opaque {
    type Profile = UserProfile;

    async fn find(&self, username: &str) -> Lookup<UserProfile> {
        Ok(self.0.get(username))
    }
}

#[tokio::test]
async fn a_store_that_cannot_list_converges_after_the_first_login() {
    let store = Arc::new(Opaque(MemoryStore::new().with_user(
        StoredUser::from_profile(UserProfile::new("johndoe"), PWDLIB_JOHNDOE),
    )));
    let endpoint = endpoint_of(store);
    let hasher = endpoint.hasher().clone();
    assert_eq!(hasher.dummy_params(), (19456, 2, 1));
    let server = Server::start(move |listener, stop| async move {
        let app = axum::Router::new().route_service("/token", endpoint);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
            .map_err(Into::into)
    })
    .await;
    failed_login(&server, "johndoe", "wrong").await;
    assert_eq!(hasher.dummy_params(), (65536, 3, 4));
    failed_login(&server, &unknown_username(), "wrong").await;
    assert_eq!(hasher.dummy_verifications(), 1);
    server.stop().await;
}
