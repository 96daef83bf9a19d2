//! `JwtValidator::from_source`: keys that change at run time, refreshed on an unknown `kid`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::{
    Algorithm, AuthError, AuthLayer, Claims, JwtValidator, KeySet, KeySource, RefreshFuture,
    SigningKey, VerifyingKey,
};

const OLD: &str = "an-old-secret-of-at-least-32-bytes!!";
const NEW: &str = "a-new-secret-of-at-least-32-bytes!!!";

/// A key source whose keys a refresh replaces with the next set.
struct Rotating {
    current: Mutex<Option<Arc<KeySet>>>,
    next: Mutex<Option<KeySet>>,
    refreshes: AtomicUsize,
}

/// The source handed to the validator; the test keeps another handle.
#[derive(Clone)]
struct Source(Arc<Rotating>);

impl std::ops::Deref for Source {
    type Target = Rotating;
    fn deref(&self) -> &Rotating {
        &self.0
    }
}

impl KeySource for Source {
    fn keys(&self, _: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        self.current
            .lock()
            .expect("lock")
            .clone()
            .ok_or_else(|| AuthError::invalid_token("Signing keys are unavailable"))
    }

    fn refresh(&self, _: Option<&str>, _: &str) -> Option<RefreshFuture> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let next = self.next.lock().expect("lock").take()?;
        let this = self.clone();
        Some(Box::pin(async move {
            tokio::task::yield_now().await;
            *this.current.lock().expect("lock") = Some(Arc::new(next));
        }))
    }
}

fn set(secret: &str, kid: &str) -> KeySet {
    KeySet::new()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, secret)
                .expect("key")
                .with_kid(kid),
        )
        .expect("set")
}

fn token(secret: &str, kid: &str) -> String {
    SigningKey::hmac(Algorithm::HS256, secret)
        .expect("key")
        .with_kid(kid)
        .sign(&Claims::new("johndoe").with_exp(4_000_000_000))
        .expect("sign")
}

async fn call(source: Source, token: &str) -> Response<impl http_body::Body> {
    let validator = JwtValidator::from_source(source, [Algorithm::HS256]).expect("validator");
    let svc = AuthLayer::new(validator).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request");
    svc.oneshot(req).await.expect("infallible")
}

#[tokio::test]
async fn unknown_kid_triggers_one_refresh_then_validates() {
    let source = Source(Arc::new(Rotating {
        current: Mutex::new(Some(Arc::new(set(OLD, "k1")))),
        next: Mutex::new(Some(set(NEW, "k2"))),
        refreshes: AtomicUsize::new(0),
    }));
    let res = call(source.clone(), &token(NEW, "k2")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
    // The refreshed set no longer has k1.
    let res = call(source.clone(), &token(OLD, "k1")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_kid_without_refresh_is_invalid_token() {
    let source = Source(Arc::new(Rotating {
        current: Mutex::new(Some(Arc::new(set(OLD, "k1")))),
        next: Mutex::new(None),
        refreshes: AtomicUsize::new(0),
    }));
    let res = call(source.clone(), &token(NEW, "k9")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let err = res.extensions().get::<AuthError>().expect("reason");
    assert_eq!(err.description(), "Unknown key id");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshed_keys_that_still_lack_the_kid_are_final() {
    let source = Source(Arc::new(Rotating {
        current: Mutex::new(Some(Arc::new(set(OLD, "k1")))),
        next: Mutex::new(Some(set(OLD, "k1"))),
        refreshes: AtomicUsize::new(0),
    }));
    let res = call(source.clone(), &token(NEW, "k2")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        source.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh only"
    );
}

#[tokio::test]
async fn no_keys_loaded_is_invalid_token_saying_so() {
    let source = Source(Arc::new(Rotating {
        current: Mutex::new(None),
        next: Mutex::new(None),
        refreshes: AtomicUsize::new(0),
    }));
    let res = call(source, &token(OLD, "k1")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains("Signing keys are unavailable"),
        "{challenge}"
    );
}

#[test]
fn algorithm_outside_the_allow_list_is_refused_before_any_key_lookup() {
    let source = Source(Arc::new(Rotating {
        current: Mutex::new(Some(Arc::new(set(OLD, "k1")))),
        next: Mutex::new(None),
        refreshes: AtomicUsize::new(0),
    }));
    let validator = JwtValidator::from_source(source.clone(), [Algorithm::RS256]).expect("v");
    let err = validator
        .validate::<Claims>(&token(OLD, "k1"))
        .expect_err("HS256 not allowed");
    assert_eq!(err.description(), "Token algorithm not allowed");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 0);
}
