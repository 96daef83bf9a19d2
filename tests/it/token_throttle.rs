//! Brute-force throttle and the bounded hashing pool, over real loopback HTTP.
#![cfg(feature = "token")]

use std::sync::Arc;
use std::time::Duration;

use crate::token_common::*;
use http::StatusCode;
use tokio::sync::Semaphore;
use tower_jwt_auth::token::{PasswordHasher, Throttle};
use tower_jwt_auth::AuthLayer;

const HOUR: Duration = Duration::from_secs(3600);

/// Only the (username, client) lock.
fn per_pair(n: u32) -> Throttle {
    Throttle::disabled().per_username_and_ip(n, HOUR).unwrap()
}

fn per_ip(n: u32) -> Throttle {
    Throttle::disabled().per_ip(n, HOUR).unwrap()
}

/// The client address comes from a test header, as a trusted proxy's would.
fn by_test_header<S: tower_jwt_auth::token::UserStore>(
    b: tower_jwt_auth::token::TokenEndpointBuilder<S>,
) -> tower_jwt_auth::token::TokenEndpointBuilder<S> {
    b.client_ip(|parts| {
        parts
            .headers
            .get("x-test-client")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    })
}

/// Logs in from the client `ip` (see [`by_test_header`]).
async fn login_from(server: &TestServer, ip: &str, username: &str, password: &str) -> Answer {
    let req = http::Request::post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-test-client", ip)
        .body(full(form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])))
        .unwrap();
    send(req).await
}

fn retry_after(a: &Answer) -> u64 {
    a.header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failures_past_the_username_limit_get_429_with_retry_after() {
    let server = serve_endpoint(builder(store()).throttle(per_pair(3)).build()).await;
    for _ in 0..3 {
        login(&server, "johndoe", "wrong")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let answer = login(&server, "johndoe", "wrong").await;
    answer.assert_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    let wait = retry_after(&answer);
    assert!((1..=3600).contains(&wait), "{wait}");
}

#[tokio::test]
async fn throttled_answer_is_the_same_for_right_and_wrong_passwords() {
    let endpoint = builder(store()).throttle(per_pair(2)).build();
    let hasher = endpoint.hasher().clone();
    let server = serve_endpoint(endpoint).await;
    login(&server, "johndoe", "wrong").await;
    login(&server, "johndoe", "wrong").await;
    let right = login(&server, "johndoe", "secret").await;
    let wrong = login(&server, "johndoe", "wrong").await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right.body, wrong.body);
    assert_eq!(
        right.header("retry-after").is_some(),
        wrong.header("retry-after").is_some()
    );
    right.assert_no_store();
    // Throttled attempts are refused before hashing: unknown users too.
    let before = hasher.dummy_verifications();
    login(&server, "nobody", "x").await;
    login(&server, "nobody", "x").await;
    let third = login(&server, "nobody", "x").await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hasher.dummy_verifications(), before + 2);
}

#[tokio::test]
async fn pair_throttle_does_not_touch_other_users() {
    let server = serve_endpoint(builder(store()).throttle(per_pair(1)).build()).await;
    login(&server, "johndoe", "wrong").await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&server, "alice", "wonderland").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_clears_the_username_counter() {
    let server = serve_endpoint(builder(store()).throttle(per_pair(3)).build()).await;
    login(&server, "johndoe", "wrong").await;
    login(&server, "johndoe", "wrong").await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
    login(&server, "johndoe", "wrong").await;
    login(&server, "johndoe", "wrong").await;
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_from_one_ip_across_usernames_get_429() {
    // The test server puts the peer address (127.0.0.1) into the extensions.
    let server = serve_endpoint(builder(store()).throttle(per_ip(3)).build()).await;
    for user in ["a", "b", "c"] {
        login(&server, user, "x")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let answer = login(&server, "johndoe", "secret").await;
    answer.assert_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    assert!(retry_after(&answer) >= 1);
}

#[tokio::test]
async fn per_ip_throttle_reads_a_custom_client_ip() {
    // A client_ip hook that sees no address: the per-client counter has
    // nothing to count, so nothing is throttled.
    let endpoint = builder(store())
        .throttle(per_ip(1))
        .client_ip(|_| None)
        .build();
    let server = serve_endpoint(endpoint).await;
    for user in ["a", "b", "c"] {
        login(&server, user, "x")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test]
async fn a_client_failing_on_purpose_does_not_lock_the_owner_out() {
    let endpoint = by_test_header(builder(store())).throttle(Throttle::new());
    let server = serve_endpoint(endpoint.build()).await;
    // The default throttle: 10 failures lock the (username, client) pair.
    for _ in 0..10 {
        login_from(&server, "192.0.2.66", "johndoe", "wrong")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    login_from(&server, "192.0.2.66", "johndoe", "secret")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    // The owner, from another address, logs in.
    let owner = login_from(&server, "198.51.100.7", "johndoe", "secret").await;
    assert_eq!(owner.status, StatusCode::OK, "{owner:?}");
}

#[tokio::test]
async fn a_client_trying_many_usernames_is_locked_out() {
    let throttle = Throttle::new().per_ip(5, HOUR).unwrap();
    let server = serve_endpoint(by_test_header(builder(store())).throttle(throttle).build()).await;
    for i in 0..5 {
        login_from(&server, "192.0.2.66", &format!("user{i}"), "guess")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    login_from(&server, "192.0.2.66", "johndoe", "secret")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    // The same guesses from another client are not refused.
    assert_eq!(
        login_from(&server, "192.0.2.67", "johndoe", "secret")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn guesses_from_many_clients_slow_the_username_down_but_never_lock_it() {
    let delay = Duration::from_millis(300);
    let throttle = Throttle::disabled().per_username(3, HOUR, delay).unwrap();
    let server = serve_endpoint(by_test_header(builder(store())).throttle(throttle).build()).await;
    for i in 0..3 {
        login_from(&server, &format!("192.0.2.{i}"), "johndoe", "wrong")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // Past the limit: every attempt waits, the owner's too, and succeeds.
    for (ip, password, status) in [
        ("192.0.2.10", "wrong", StatusCode::BAD_REQUEST),
        ("192.0.2.11", "secret", StatusCode::OK),
        ("192.0.2.12", "secret", StatusCode::OK),
    ] {
        let started = std::time::Instant::now();
        let answer = login_from(&server, ip, "johndoe", password).await;
        assert_eq!(answer.status, status, "{answer:?}");
        // A sleep lasts at least its duration: a lower bound cannot flake.
        assert!(started.elapsed() >= delay, "{ip} was not slowed down");
    }
}

#[tokio::test]
async fn bad_requests_do_not_count_as_failures() {
    let server = serve_endpoint(builder(store()).throttle(per_pair(1)).build()).await;
    for _ in 0..3 {
        post_form(&server, "grant_type=password&username=johndoe&password=%zz")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- hashing pool

/// A hasher whose only slot the test can hold.
fn one_slot(wait: Duration) -> (PasswordHasher, Arc<Semaphore>) {
    let slots = Arc::new(Semaphore::new(1));
    let hasher = PasswordHasher::builder()
        .params(8192, 1, 1)
        .unwrap()
        .semaphore(slots.clone())
        .queue_wait(wait)
        .build();
    (hasher, slots)
}

#[tokio::test]
async fn saturated_pool_answers_503_with_retry_after() {
    let (hasher, slots) = one_slot(Duration::from_millis(20));
    let store = Counting::new(store());
    let server = serve_endpoint(builder(store.clone()).hasher(hasher).build()).await;
    let held = slots.clone().acquire_owned().await.unwrap();

    let answer = login(&server, "johndoe", "secret").await;
    answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert_eq!(answer.header("retry-after"), Some("1"));
    // Unknown users queue for the same slots.
    login(&server, "nobody", "x")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");

    drop(held);
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn zero_queue_wait_refuses_at_once_when_busy() {
    let (hasher, slots) = one_slot(Duration::ZERO);
    let server = serve_endpoint(builder(store()).hasher(hasher).build()).await;
    let held = slots.clone().acquire_owned().await.unwrap();
    login(&server, "johndoe", "secret")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    drop(held);
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_queued_login_proceeds_when_a_slot_frees_up() {
    let (hasher, slots) = one_slot(Duration::from_secs(60));
    let server = serve_endpoint(builder(store()).hasher(hasher).build()).await;
    let held = slots.clone().acquire_owned().await.unwrap();
    let url = server.url("/token");
    let queued = tokio::spawn(async move {
        let req = http::Request::post(url)
            .header("content-type", FORM)
            .body(full("grant_type=password&username=johndoe&password=secret"))
            .unwrap();
        send(req).await
    });
    // Whether the request is already waiting or not, it gets the slot once free.
    drop(held);
    assert_eq!(queued.await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn busy_answers_do_not_count_as_failures() {
    let (hasher, slots) = one_slot(Duration::ZERO);
    let server = serve_endpoint(
        builder(store())
            .hasher(hasher)
            .throttle(per_pair(1))
            .build(),
    )
    .await;
    let held = slots.clone().acquire_owned().await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            login(&server, "johndoe", "secret").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    drop(held);
    assert_eq!(
        login(&server, "johndoe", "secret").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn protected_routes_answer_while_every_hashing_slot_is_taken() {
    let (hasher, slots) = one_slot(Duration::from_secs(60));
    let endpoint = builder(store()).hasher(hasher).build();
    let token = {
        let server = serve_endpoint(endpoint.clone()).await;
        login(&server, "johndoe", "secret").await.token()
    };
    let me = tower::ServiceBuilder::new()
        .layer(AuthLayer::new(validator()).resolve_user(endpoint.resolver()))
        .service_fn(|_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"ok"),
            )))
        });
    let server = serve(router(vec![
        ("/token", boxed(endpoint)),
        ("/me", boxed(me)),
    ]))
    .await;

    let held = slots.clone().acquire_owned().await.unwrap();
    // A login is queued on the taken slot ...
    let url = server.url("/token");
    let queued = tokio::spawn(async move {
        let req = http::Request::post(url)
            .header("content-type", FORM)
            .body(full("grant_type=password&username=johndoe&password=secret"))
            .unwrap();
        send(req).await
    });
    // ... and the protected route still answers.
    for _ in 0..5 {
        let answer = get_with_token(&server, "/me", &token).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "ok");
    }
    drop(held);
    assert_eq!(queued.await.unwrap().status, StatusCode::OK);
}
