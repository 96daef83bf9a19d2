//! Issue 9 §3, user enumeration by timing: `POST /token` with an unknown
//! username must cost what a known username with a wrong password costs,
//! whatever the stored hashes' parameters, with nothing to configure.
//!
//! Measured as a ratio of medians: unknown-user time / wrong-password time
//! ≥ [`MIN_RATIO`], over [`SAMPLES`] samples of each, interleaved, on real
//! sockets, for both tutorials (pwdlib hashes); the gateway's (users files of pwdlib,
//! OWASP-policy and mixed hashes) are in `jwt-gateway/tests/login_timing.rs`.
//! Before the dummy hash followed the stored hashes, an unknown user cost one
//! run at the policy's `m=19456,t=2,p=1` against the tutorial's
//! `m=65536,t=3,p=4`: a ratio near 0.2.
//!
//! The throttle locks a username after 10 failures: each username gets at
//! most [`SAMPLES`] + 1 wrong passwords, and unknown usernames are all
//! different. The timing tests run one at a time.

//!
//! Its own test binary, so that the ~600 tests of `tests/it` do not compete
//! for the cores while it measures.

mod common;
#[path = "../it/tutorial_common.rs"]
mod tutorial_common;
#[path = "../../examples/tutorial_jwt.rs"]
#[allow(dead_code)]
mod tutorial_jwt;
#[path = "../../examples/tutorial_scopes.rs"]
#[allow(dead_code)]
mod tutorial_scopes;

use std::sync::Arc;

use tower_jwt_auth::token::{
    Lookup, MemoryStore, StoredUser, TokenEndpoint, UserProfile, UserStore,
};
use tower_jwt_auth::{Algorithm, SigningKey};
use tutorial_common::Server;

use common::*;

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
