//! Remote JWKS against a server started by the test on 127.0.0.1:0, with hit
//! counters: start-up, refresh, unknown-`kid` refetch, rate limit, failures.

use std::convert::Infallible;
use std::time::Duration;

use crate::jwks_server::{until, JwksServer, Mode};
use crate::keys::*;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::jwks::{JwksErrorKind, RemoteKeys, RemoteKeysBuilder, Startup};
use tower_jwt_auth::rotation::{KeyPair, KeyRotation};
use tower_jwt_auth::{Algorithm, AuthError, AuthLayer, Claims, JwtValidator};

fn rsa(kid: &str, pem: &str) -> KeyPair {
    KeyPair::rsa_pem(Algorithm::RS256, pem)
        .unwrap()
        .with_kid(kid)
}

async fn server() -> JwksServer {
    JwksServer::start(KeyRotation::new(rsa("k1", RSA_2048))).await
}

/// Settings for tests: long intervals unless a test shortens them.
fn builder(url: &str) -> RemoteKeysBuilder {
    RemoteKeys::builder()
        .jwks_url(url)
        .refresh_interval(Duration::from_secs(3600))
        .min_refresh_interval(Duration::from_millis(50))
        .refetch_interval(Duration::from_secs(3600))
        .fetch_timeout(Duration::from_secs(10))
}

/// Calls a service behind `AuthLayer`; returns the status and the refusal reason.
async fn call(validator: &JwtValidator, token: &str) -> (StatusCode, Option<&'static str>) {
    let svc = AuthLayer::new(validator.clone()).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let reason = res.extensions().get::<AuthError>().map(|e| e.description());
    (res.status(), reason)
}

const OK: (StatusCode, Option<&str>) = (StatusCode::OK, None);
const UNAVAILABLE: (StatusCode, Option<&str>) = (
    StatusCode::UNAUTHORIZED,
    Some("Signing keys are unavailable"),
);
const UNKNOWN_KID: (StatusCode, Option<&str>) = (StatusCode::UNAUTHORIZED, Some("Unknown key id"));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_fetched_once_at_start_up() {
    let server = server().await;
    let keys = builder(&server.jwks_url()).build().await.unwrap();
    assert_eq!(server.jwks_hits(), 1);
    assert!(keys.is_loaded());
    let validator = keys.validator().unwrap();
    let token = server.state.rotation.sign(&claims()).unwrap();
    for _ in 0..10 {
        assert_eq!(call(&validator, &token).await, OK);
    }
    assert_eq!(server.jwks_hits(), 1, "validation does not fetch");
    let stats = keys.stats();
    assert_eq!(stats.fetch_success, 1);
    assert_eq!(stats.fetch_failed, 0);
    assert_eq!(stats.refetch_unknown_kid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_refreshed_on_the_interval() {
    let server = server().await;
    let keys = builder(&server.jwks_url())
        .refresh_interval(Duration::from_millis(100))
        .max_stale(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    // The server counts a hit when it answers; the client counts the fetch once it
    // has read and installed the keys: wait for the client's count.
    until("three background fetches", || {
        keys.stats().fetch_success >= 4
    })
    .await;
    assert!(server.jwks_hits() >= 4);

    // A key published meanwhile is picked up without an unknown-kid refetch.
    server.state.rotation.add(rsa("k2", RSA_2048_B)).unwrap();
    let seen = server.jwks_hits();
    until("a fetch after the change", || {
        server.jwks_hits() >= seen + 2
    })
    .await;
    server.state.rotation.activate("k2").unwrap();
    let token = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(call(&keys.validator().unwrap(), &token).await, OK);
    assert_eq!(keys.stats().refetch_unknown_kid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_shortens_the_refresh() {
    let server = server().await;
    server.set_cache_control(Some("public, max-age=1"));
    let keys = builder(&server.jwks_url()).build().await.unwrap();
    // The interval is an hour: only max-age=1 brings these fetches.
    until("refetches per max-age", || keys.stats().fetch_success >= 3).await;
    assert!(server.jwks_hits() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_is_bounded_by_the_minimum_interval() {
    let server = server().await;
    server.set_cache_control(Some("no-cache"));
    let keys = builder(&server.jwks_url())
        .min_refresh_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    until("refetches", || server.jwks_hits() >= 3).await;
    drop(keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_is_fetched_once_for_a_burst_of_100_requests() {
    let server = server().await;
    let keys = builder(&server.jwks_url()).build().await.unwrap();
    let validator = keys.validator().unwrap();
    assert_eq!(server.jwks_hits(), 1);

    server.state.rotation.rotate(rsa("k2", RSA_2048_B)).unwrap();
    let token = server.state.rotation.sign(&claims()).unwrap();
    // Hold the JWKS answer until every request waits on the fetch.
    server.close_gate();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (validator, token) = (validator.clone(), token.clone());
        tasks.push(tokio::spawn(async move { call(&validator, &token).await }));
    }
    until("100 requests waiting on one fetch", || {
        let s = keys.stats();
        s.refetch_unknown_kid + s.refetch_joined == 100
    })
    .await;
    server.open_gate();
    for task in tasks {
        assert_eq!(task.await.unwrap(), OK);
    }
    assert_eq!(server.jwks_hits(), 2, "exactly one refetch");
    let stats = keys.stats();
    assert_eq!(stats.refetch_unknown_kid, 1);
    assert_eq!(stats.refetch_joined, 99);
    assert_eq!(stats.refetch_rate_limited, 0);
    // Later requests use the new keys without fetching.
    assert_eq!(call(&validator, &token).await, OK);
    assert_eq!(server.jwks_hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refetches_are_rate_limited() {
    let server = server().await;
    let keys = builder(&server.jwks_url()).build().await.unwrap();
    let validator = keys.validator().unwrap();
    // A kid that the server does not have: one refetch, then refused.
    let stranger = KeyPair::ec_pem(Algorithm::ES256, P256)
        .unwrap()
        .with_kid("stranger");
    let forged = stranger.signing_key().sign(&claims()).unwrap();
    assert_eq!(call(&validator, &forged).await, UNKNOWN_KID);
    assert_eq!(server.jwks_hits(), 2);
    // Within the interval, no more fetches: not for the same kid, not for a new one.
    for _ in 0..20 {
        assert_eq!(call(&validator, &forged).await, UNKNOWN_KID);
    }
    server.state.rotation.rotate(rsa("k2", RSA_2048_B)).unwrap();
    let genuine = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(call(&validator, &genuine).await, UNKNOWN_KID);
    assert_eq!(server.jwks_hits(), 2);
    let stats = keys.stats();
    assert_eq!(stats.refetch_unknown_kid, 1);
    assert_eq!(stats.refetch_rate_limited, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refetch_resumes_after_the_interval() {
    let server = server().await;
    let keys = builder(&server.jwks_url())
        .refetch_interval(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let validator = keys.validator().unwrap();
    let stranger = KeyPair::ed_pem(ED25519).unwrap().with_kid("stranger");
    let forged = stranger.signing_key().sign(&claims()).unwrap();
    assert_eq!(call(&validator, &forged).await, UNKNOWN_KID);
    server.state.rotation.rotate(rsa("k2", RSA_2048_B)).unwrap();
    let genuine = server.state.rotation.sign(&claims()).unwrap();
    // Refused while rate-limited, then accepted once a refetch may run again.
    let mut status = call(&validator, &genuine).await;
    for _ in 0..3000 {
        if status == OK {
            break;
        }
        assert_eq!(status, UNKNOWN_KID);
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = call(&validator, &genuine).await;
    }
    assert_eq!(status, OK);
    assert_eq!(keys.stats().refetch_unknown_kid, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_keys_serve_while_the_endpoint_is_down_then_expire() {
    let server = server().await;
    let keys = builder(&server.jwks_url())
        .refresh_interval(Duration::from_millis(100))
        .max_stale(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    let validator = keys.validator().unwrap();
    let token = server.state.rotation.sign(&claims()).unwrap();

    server.set_mode(Mode::Status(503));
    until("a failed refresh", || keys.stats().fetch_failed >= 1).await;
    assert_eq!(call(&validator, &token).await, OK, "stale keys serve");
    assert!(keys.stats().stale_served >= 1);

    // Past max_stale the keys are dropped: refused, and said so.
    let mut result = call(&validator, &token).await;
    for _ in 0..3000 {
        if result != OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        result = call(&validator, &token).await;
    }
    assert_eq!(result, UNAVAILABLE);
    assert!(keys.stats().keys_unavailable >= 1);

    // The endpoint comes back: keys load again.
    server.set_mode(Mode::Keys);
    until("recovery", || {
        keys.stats().fetch_failed > 0 && keys.is_loaded()
    })
    .await;
    let mut result = call(&validator, &token).await;
    for _ in 0..3000 {
        if result == OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        result = call(&validator, &token).await;
    }
    assert_eq!(result, OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_from_the_start() {
    let server = server().await;
    server.set_mode(Mode::Status(500));
    // Waiting start-up: build fails and says why.
    let err = builder(&server.jwks_url()).build().await.unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Status);
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(err.to_string().contains("/jwks.json"), "{err}");

    // Nothing listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = builder(&format!("http://{closed}/jwks.json"))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Transport, "{err}");

    // Background start-up: requests are refused until the keys load.
    let keys = builder(&server.jwks_url())
        .startup(Startup::Background)
        .build()
        .await
        .unwrap();
    let validator = keys.validator().unwrap();
    let token = server.state.rotation.sign(&claims()).unwrap();
    until("a failed fetch", || keys.stats().fetch_failed >= 1).await;
    assert_eq!(call(&validator, &token).await, UNAVAILABLE);
    assert!(!keys.is_loaded());
    server.set_mode(Mode::Keys);
    until("the keys load", || keys.is_loaded()).await;
    assert_eq!(call(&validator, &token).await, OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_times_out() {
    let server = server().await;
    server.set_mode(Mode::Hang);
    let err = builder(&server.jwks_url())
        .fetch_timeout(Duration::from_millis(200))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Timeout, "{err}");

    // After a good load, a hanging refresh leaves the keys in place.
    server.set_mode(Mode::Keys);
    let keys = builder(&server.jwks_url())
        .fetch_timeout(Duration::from_millis(200))
        .refresh_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    server.set_mode(Mode::Hang);
    until("a timed-out refresh", || keys.stats().fetch_failed >= 1).await;
    let token = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(call(&keys.validator().unwrap(), &token).await, OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sets_are_refused() {
    let server = server().await;
    for (body, kind) in [
        ("not json", JwksErrorKind::Malformed),
        ("<html>login</html>", JwksErrorKind::Malformed),
        (r#"{"keys": {}}"#, JwksErrorKind::Malformed),
        (r#"{"keys": []}"#, JwksErrorKind::Malformed),
        (
            r#"{"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]}"#,
            JwksErrorKind::Malformed,
        ),
    ] {
        server.set_mode(Mode::Body(body.into()));
        let err = builder(&server.jwks_url()).build().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{body}: {err}");
    }
    // Too large.
    server.set_mode(Mode::Body(format!(
        r#"{{"keys": [], "pad": "{}"}}"#,
        "x".repeat(4096)
    )));
    let err = builder(&server.jwks_url())
        .max_response_size(1024)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::TooLarge, "{err}");

    // A malformed answer after a good load keeps the good keys.
    server.set_mode(Mode::Keys);
    let keys = builder(&server.jwks_url())
        .refresh_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    server.set_mode(Mode::Body(r#"{"keys": []}"#.into()));
    until("a refused refresh", || keys.stats().fetch_failed >= 1).await;
    let token = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(call(&keys.validator().unwrap(), &token).await, OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_keys_are_skipped_and_the_others_load() {
    let server = server().await;
    let good = server.state.rotation.jwk_set().to_json();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut list = good["keys"].as_array().unwrap().clone();
    list.push(
        serde_json::json!({"kty": "EC", "crv": "secp256k1", "kid": "k", "x": "AA", "y": "AA"}),
    );
    list.push(serde_json::json!({"kty": "oct", "alg": "HS256", "kid": "sym", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}));
    list.push(
        serde_json::json!({"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}),
    );
    server.set_mode(Mode::Body(serde_json::json!({ "keys": list }).to_string()));
    let keys = builder(&server.jwks_url()).build().await.unwrap();
    assert_eq!(keys.stats().keys_skipped, 3);
    let token = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(call(&keys.validator().unwrap(), &token).await, OK);

    // The symmetric key was not loaded: a token "signed" with it is refused,
    // even by a validator that allows HS256.
    let hs = JwtValidator::from_source(keys.clone(), [Algorithm::HS256, Algorithm::RS256]).unwrap();
    let forged =
        tower_jwt_auth::SigningKey::hmac(Algorithm::HS256, "secret-secret-secret-secret-secret")
            .unwrap()
            .with_kid("sym")
            .sign(&claims())
            .unwrap();
    assert!(hs.validate::<Claims>(&forged).is_err());
}

#[tokio::test]
async fn the_http_client_is_injectable() {
    // An in-memory client: no socket at all.
    let rotation = KeyRotation::new(rsa("k1", RSA_2048));
    let jwks = rotation.jwks_json();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let client = service_fn(move |req: Request<Empty<Bytes>>| {
        log.lock().unwrap().push(req.uri().to_string());
        let body = jwks.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
    });
    let keys = RemoteKeys::builder()
        .jwks_url("https://idp.example/keys")
        .http_client(client)
        .build()
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["https://idp.example/keys"]);
    let token = rotation.sign(&claims()).unwrap();
    assert!(keys.validator().unwrap().validate::<Claims>(&token).is_ok());
}

#[tokio::test]
async fn settings_are_checked() {
    let b = || RemoteKeys::builder().jwks_url("https://idp.example/keys");
    for builder in [
        RemoteKeys::builder(),
        RemoteKeys::builder().jwks_url("http://idp.example/keys"),
        RemoteKeys::builder().jwks_url("idp.example/keys"),
        RemoteKeys::builder().issuer("http://idp.example"),
        RemoteKeys::builder()
            .jwks_url("https://a.example/keys")
            .jwks_url("https://b.example/keys"),
        RemoteKeys::builder()
            .jwks_url("https://a.example/keys")
            .issuer("https://b.example"),
        RemoteKeys::builder()
            .issuer("https://a.example")
            .issuer_jwks_url("https://a.example", "https://a.example/keys"),
        b().refresh_interval(Duration::ZERO),
        b().fetch_timeout(Duration::ZERO),
        b().max_stale(Duration::from_secs(1)),
        b().min_refresh_interval(Duration::from_secs(3600 * 24)),
        b().max_response_size(0),
    ] {
        let err = builder.build().await.unwrap_err();
        assert_eq!(err.kind(), JwksErrorKind::Config, "{err}");
    }
    // Plain http off loopback only when allowed explicitly.
    let client = service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let err = RemoteKeys::builder()
        .jwks_url("http://idp.example/keys")
        .allow_http(true)
        .http_client(client)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Malformed, "{err}");
}

#[test]
fn remote_keys_are_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<RemoteKeys>();
}
