//! What the login-timing tests of the library and of the gateway share: the
//! ratio of medians of unknown-user and wrong-password logins (issue 9 §3).
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::sync::Mutex;

use crate::tutorial_common::Server;

/// Samples of each kind per measured user.
pub const SAMPLES: usize = 7;
/// The lowest acceptable unknown / wrong-password ratio of medians.
pub const MIN_RATIO: f64 = 0.8;

/// The FastAPI tutorial's johndoe (`secret`), pwdlib's `m=65536,t=3,p=4`.
pub const PWDLIB_JOHNDOE: &str = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// The tutorial's alice (`secretalice`), pwdlib's parameters.
pub const PWDLIB_ALICE: &str = "$argon2id$v=19$m=65536,t=3,p=4$seUaXHkm60RS/E8wPzrUyA$pbZwxKKNt+HegiOI7MbTvgrMctvid2A8eI94/hPvpfs";
/// `secretalice` with this crate's default policy, OWASP's `m=19456,t=2,p=1`.
pub const OWASP_CAROL: &str = "$argon2id$v=19$m=19456,t=2,p=1$2gNcOlYYheITaN2bd/k7PA$gDVQGnJUksXPr6ig1orhlON+Yk6hWTq2tRNXkyS0DAI";

/// One timing test at a time: they compete for the same cores.
pub static SERIAL: Mutex<()> = Mutex::const_new(());

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A fresh unknown username for every request.
pub fn unknown_username() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("nobody{}", N.fetch_add(1, Ordering::Relaxed))
}

/// `POST /token`, refused as bad credentials; how long it took.
pub async fn failed_login(server: &Server, username: &str, password: &str) -> Duration {
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
pub async fn medians(server: &Server, user: &str) -> (Duration, Duration) {
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
pub async fn assert_no_enumeration(case: &str, server: &Server, users: &[&str]) {
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
