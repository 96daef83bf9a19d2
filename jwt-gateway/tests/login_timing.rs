//! Issue 9 §3, user enumeration by timing: `POST /token` with an unknown
//! username must cost what a known username with a wrong password costs,
//! whatever the stored hashes' parameters, with nothing to configure.
//!
//! Measured as a ratio of medians: unknown-user time / wrong-password time
//! ≥ [`MIN_RATIO`], over [`SAMPLES`] samples of each, interleaved, on real
//! sockets, for the gateway with users files of pwdlib hashes, of OWASP-policy
//! hashes, and of a mix (the tutorials' are in the library's
//! `tests/login_timing`, whose helpers this shares). Its own test binary, so
//! that no other test competes for the cores while it measures.
//! Before the dummy hash followed the stored hashes, an unknown user cost one
//! run at the policy's `m=19456,t=2,p=1` against the tutorial's
//! `m=65536,t=3,p=4`: a ratio near 0.2.
//!
//! The throttle locks a username after 10 failures: each username gets at
//! most [`SAMPLES`] + 1 wrong passwords, and unknown usernames are all
//! different. The timing tests run one at a time.

#[path = "../../tests/login_timing/common.rs"]
mod common;
#[path = "../../tests/it/tutorial_common.rs"]
mod tutorial_common;

use tower_jwt_auth::token::PasswordHasher;
use tutorial_common::Server;

use common::*;
use jwt_gateway::config::{Config, Secret};
use jwt_gateway::server::{serve, Gateway};

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
