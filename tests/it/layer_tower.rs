//! The tower contract (issue 2, item 8), with `tower-test` mocks: readiness is
//! forwarded, the readied service is the one called (also on the async
//! resolver path), rejections never reach the inner service, inner errors pass
//! through; auto traits; `Debug` never shows key material.

use std::sync::Arc;

use crate::common::*;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_jwt_auth::bearer::{AnyUser, Auth, ResponseBody, ResponseFuture};
use tower_jwt_auth::{
    resolve_sync, Algorithm, AuthError, AuthLayer, Claims, ClaimsAsUser, DefaultRejection,
    JwtValidator, KeySet, ResolveUser, SigningKey, Style, VerifyingKey,
};
use tower_test::mock;

type Req = Request<Full<Bytes>>;
type Rsp = Response<Full<Bytes>>;

fn inner_response() -> Rsp {
    Response::new(Full::from("from the mock"))
}

// === readiness ==================================================================

#[tokio::test]
async fn poll_ready_forwards_pending() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(
        svc.is_woken(),
        "the inner service's wake-up reaches the caller"
    );
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test]
async fn poll_ready_forwards_errors() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    handle.send_error("inner not ready: boom");
    let err = assert_ready_err!(svc.poll_ready());
    assert_eq!(err.to_string(), "inner not ready: boom");
}

// === the sync path ================================================================

#[tokio::test]
async fn valid_token_reaches_the_mock_with_the_claims() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_bearer(&valid_token())));
    assert_pending!(fut.poll());
    let (req, send) = handle.next_request().await.expect("a request");
    assert_eq!(
        req.extensions().get::<Claims>().unwrap().sub(),
        Some("johndoe")
    );
    send.send_response(inner_response());
    let res = assert_ready_ok!(fut.poll());
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "from the mock");
}

#[tokio::test]
async fn rejection_never_calls_the_inner_service() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    for req in [
        request(),
        with_bearer("not.a.jwt"),
        with_authorization(&[b"Bearer "]),
    ] {
        assert_ready_ok!(svc.poll_ready());
        let res = svc.call(req).await.unwrap();
        assert!(res.status().is_client_error());
        assert!(res.extensions().get::<AuthError>().is_some());
        assert_pending!(handle.poll_request());
    }
}

#[tokio::test]
async fn rejection_future_is_ready_at_once() {
    let (mut svc, _handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    let res = assert_ready_ok!(fut.poll());
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer());
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_bearer(&valid_token())));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error("inner failed");
    let err = assert_ready_err!(fut.poll());
    assert_eq!(err.to_string(), "inner failed");
}

#[tokio::test]
async fn sync_resolver_calls_the_readied_service() {
    let layer = layer().resolve_user(resolve_sync(|c: &Claims| {
        Ok::<_, AuthError>(c.sub().unwrap_or_default().to_uppercase())
    }));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_bearer(&valid_token())));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.extensions().get::<String>().unwrap(), "JOHNDOE");
    send.send_response(inner_response());
    assert_ready_ok!(fut.poll());
}

#[tokio::test]
async fn optional_mode_without_credentials_calls_the_readied_service() {
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer().optional());
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(request()));
    let (req, send) = handle.next_request().await.unwrap();
    assert!(req.extensions().get::<Claims>().is_none());
    send.send_response(inner_response());
    assert_eq!(assert_ready_ok!(fut.poll()).status(), StatusCode::OK);
}

// === the async resolver path: clone and swap =========================================

/// A layer whose resolver waits for a permit of `gate` before answering.
fn gated(
    gate: &Arc<Semaphore>,
) -> AuthLayer<Claims, impl ResolveUser<Claims, User = String> + Clone> {
    let gate = gate.clone();
    layer().resolve_user(move |c: &Claims| {
        let gate = gate.clone();
        let user = format!("user:{}", c.sub().unwrap_or_default());
        async move {
            let _permit = gate.acquire().await.expect("gate open");
            Ok::<_, AuthError>(user)
        }
    })
}

#[tokio::test]
async fn async_resolver_calls_the_service_that_was_polled_ready() {
    let gate = Arc::new(Semaphore::new(0));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(gated(&gate));

    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_bearer(&valid_token())));
    // The resolver is waiting: nothing reached the inner service yet.
    assert_pending!(fut.poll());
    assert_pending!(handle.poll_request());

    // No more capacity: the service left behind is a fresh, unready clone.
    handle.allow(0);
    assert_pending!(svc.poll_ready());

    // The resolution completes: the *readied* service is called (a mock clone
    // panics when called unready).
    gate.add_permits(1);
    assert!(fut.is_woken());
    assert_pending!(fut.poll());
    let (req, send) = handle
        .next_request()
        .await
        .expect("the readied mock was called");
    assert_eq!(req.extensions().get::<String>().unwrap(), "user:johndoe");
    assert_eq!(
        req.extensions().get::<Claims>().unwrap().sub(),
        Some("johndoe")
    );
    send.send_response(inner_response());
    assert_eq!(assert_ready_ok!(fut.poll()).status(), StatusCode::OK);
}

#[tokio::test]
async fn async_resolver_two_calls_in_flight_each_use_their_readied_service() {
    let gate = Arc::new(Semaphore::new(0));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(gated(&gate));

    assert_ready_ok!(svc.poll_ready());
    let mut first = task::spawn(svc.call(with_bearer(&valid_token())));
    assert_ready_ok!(svc.poll_ready());
    let second_token = hs256(&format!(r#"{{"sub":"alice","exp":{EXP}}}"#));
    let mut second = task::spawn(svc.call(with_bearer(&second_token)));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    gate.add_permits(2);
    assert_pending!(second.poll());
    assert_pending!(first.poll());
    let (req2, send2) = handle.next_request().await.unwrap();
    let (req1, send1) = handle.next_request().await.unwrap();
    assert_eq!(req2.extensions().get::<String>().unwrap(), "user:alice");
    assert_eq!(req1.extensions().get::<String>().unwrap(), "user:johndoe");
    send1.send_response(inner_response());
    send2.send_response(inner_response());
    assert_ready_ok!(first.poll());
    assert_ready_ok!(second.poll());
}

#[tokio::test]
async fn async_resolver_rejection_never_calls_the_inner_service() {
    let layer = layer().resolve_user(|_: &Claims| async {
        tokio::task::yield_now().await;
        Err::<String, _>(AuthError::unknown_user())
    });
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let res = svc.call(with_bearer(&valid_token())).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.extensions().get::<AuthError>().unwrap().description(),
        "Unknown user"
    );
    assert_pending!(handle.poll_request());
}

#[tokio::test]
async fn async_resolver_inner_errors_pass_through() {
    let gate = Arc::new(Semaphore::new(1));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(gated(&gate));
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(with_bearer(&valid_token())));
    assert_pending!(fut.poll());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error("inner failed after resolution");
    let err = assert_ready_err!(fut.poll());
    assert_eq!(err.to_string(), "inner failed after resolution");
}

#[tokio::test]
async fn async_resolver_invalid_token_is_refused_before_resolving() {
    let gate = Arc::new(Semaphore::new(0));
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(gated(&gate));
    assert_ready_ok!(svc.poll_ready());
    // The gate stays closed: a refusal that waited for the resolver would hang.
    let mut fut = task::spawn(svc.call(with_bearer("not.a.jwt")));
    let res = assert_ready_ok!(fut.poll());
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_pending!(handle.poll_request());
}

// === the response body ================================================================

#[tokio::test]
async fn rejection_body_has_an_exact_size_hint() {
    let svc = layer().layer(Echo::default());
    let res = svc.oneshot(request()).await.unwrap();
    let len = res.body().size_hint().exact().expect("exact size");
    assert!(!res.body().is_end_stream());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(len, body.len() as u64);
}

#[tokio::test]
async fn inner_body_size_hint_is_forwarded() {
    let svc = layer().layer(Echo::default());
    let res = svc.oneshot(with_bearer(&valid_token())).await.unwrap();
    assert_eq!(res.body().size_hint().exact(), Some(2));
}

#[tokio::test]
async fn rejection_with_an_empty_body_ends_at_once() {
    let layer = layer().reject_with(|_: &AuthError, _: &tower_jwt_auth::RejectContext<'_>| {
        Response::new(Bytes::new())
    });
    let res = layer
        .layer(Echo::default())
        .oneshot(request())
        .await
        .unwrap();
    assert!(res.body().is_end_stream());
    assert_eq!(res.body().size_hint().exact(), Some(0));
}

// === building stacks ==================================================================

#[tokio::test]
async fn works_in_a_service_builder_with_service_fn() {
    let svc = ServiceBuilder::new()
        .layer(layer())
        .service_fn(|req: Req| async move {
            let sub = req
                .extensions()
                .get::<Claims>()
                .unwrap()
                .sub()
                .unwrap()
                .to_owned();
            Ok::<_, std::convert::Infallible>(Response::new(Full::from(sub)))
        });
    let res = svc
        .clone()
        .oneshot(with_bearer(&valid_token()))
        .await
        .unwrap();
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "johndoe"
    );
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn service_exposes_its_inner_service() {
    let mut svc = layer().layer(Echo::default());
    let _: &Echo = svc.get_ref();
    let _: &mut Echo = svc.get_mut();
    let _: Echo = svc.into_inner();
}

// === auto traits ======================================================================

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_clone<T: Clone>() {}
fn assert_send_val<T: Send>(_: &T) {}
fn assert_sync_val<T: Sync>(_: &T) {}

type DefaultAuth<S> = Auth<S, Claims, ClaimsAsUser, DefaultRejection, AnyUser>;

#[test]
fn layer_is_send_sync_clone() {
    assert_send::<AuthLayer>();
    assert_sync::<AuthLayer>();
    assert_clone::<AuthLayer>();
}

#[test]
fn service_is_send_sync_clone() {
    assert_send::<DefaultAuth<Echo>>();
    assert_sync::<DefaultAuth<Echo>>();
    assert_clone::<DefaultAuth<Echo>>();
}

#[test]
fn response_future_is_send_and_sync() {
    type Fut = ResponseFuture<Echo, Claims, ClaimsAsUser, DefaultRejection, AnyUser, Full<Bytes>>;
    assert_send::<Fut>();
    assert_sync::<Fut>();
}

#[test]
fn response_body_is_send_and_sync() {
    assert_send::<ResponseBody<Full<Bytes>>>();
    assert_sync::<ResponseBody<Full<Bytes>>>();
}

#[test]
fn errors_and_keys_are_send_and_sync() {
    assert_send::<AuthError>();
    assert_sync::<AuthError>();
    assert_send::<JwtValidator>();
    assert_sync::<JwtValidator>();
    assert_send::<VerifyingKey>();
    assert_sync::<VerifyingKey>();
    assert_send::<SigningKey>();
    assert_sync::<SigningKey>();
}

#[test]
fn async_resolver_layer_service_and_future_are_send() {
    let layer = layer().resolve_user(|c: &Claims| {
        let sub = c.sub().unwrap_or_default().to_owned();
        async move {
            tokio::task::yield_now().await;
            Ok::<_, AuthError>(sub)
        }
    });
    assert_send_val(&layer);
    assert_sync_val(&layer);
    let mut svc = layer.layer(Echo::default());
    assert_send_val(&svc);
    assert_sync_val(&svc);
    let fut = svc.call(with_bearer(&valid_token()));
    assert_send_val(&fut);
}

#[test]
fn sync_resolver_and_active_check_layer_is_send_sync() {
    let layer = layer()
        .resolve_user(resolve_sync(|c: &Claims| {
            Ok::<_, AuthError>(c.sub().unwrap_or_default().to_owned())
        }))
        .require_active(|u: &String| !u.is_empty())
        .require_scopes(["me"])
        .unwrap();
    assert_send_val(&layer);
    assert_sync_val(&layer);
    let mut svc = layer.layer(Echo::default());
    assert_send_val(&svc);
    assert_sync_val(&svc);
    assert_send_val(&svc.call(request()));
}

// === Debug never shows key material ======================================================

/// Fragments of `material` that must not appear in `debug`.
#[track_caller]
fn assert_hides(debug: &str, material: &[u8]) {
    let text = String::from_utf8_lossy(material);
    // Any 12-character window of the material (PEM lines, secrets).
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    for w in chars.windows(12).step_by(7) {
        let w: String = w.iter().collect();
        if w.contains("-----") || w.contains("PUBLIC") || w.contains("PRIVATE") {
            continue;
        }
        assert!(!debug.contains(&w), "{w:?} shown in {debug}");
    }
    // Raw bytes printed as a list (`[48, 130, ...]` for DER).
    let bytes: Vec<String> = material.iter().take(4).map(u8::to_string).collect();
    assert!(!debug.contains(&bytes.join(", ")), "raw bytes in {debug}");
    let der = pem_to_der_lossy(material);
    if der.len() > 4 {
        let bytes: Vec<String> = der.iter().take(4).map(u8::to_string).collect();
        assert!(!debug.contains(&bytes.join(", ")), "DER bytes in {debug}");
    }
}

fn pem_to_der_lossy(material: &[u8]) -> Vec<u8> {
    if material.starts_with(b"-----") {
        pem_to_der(material)
    } else {
        Vec::new()
    }
}

#[test]
fn verifying_key_debug_hides_the_hmac_secret() {
    let key = VerifyingKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .with_kid("k1");
    for d in [format!("{key:?}"), format!("{key:#?}")] {
        assert_hides(&d, SECRET.as_bytes());
        assert!(d.contains("k1"), "{d}");
        assert!(d.contains("redacted"), "{d}");
    }
}

#[test]
fn verifying_key_debug_hides_public_keys() {
    let files = [
        ("rsa2048-public.pem", Algorithm::RS256),
        ("ec-p256-public.pem", Algorithm::ES256),
        ("ed25519-public.pem", Algorithm::EdDSA),
    ];
    for (file, alg) in files {
        let pem = key_file(file);
        let key = match alg {
            Algorithm::RS256 => VerifyingKey::rsa_pem(alg, &pem),
            Algorithm::ES256 => VerifyingKey::ec_pem(alg, &pem),
            _ => VerifyingKey::ed_pem(&pem),
        }
        .unwrap();
        assert_hides(&format!("{key:?}"), &pem);
        assert_hides(&format!("{key:#?}"), &pem);
    }
}

#[test]
fn validator_and_key_set_debug_hide_the_secret() {
    let keys = KeySet::new()
        .with(
            VerifyingKey::hmac(Algorithm::HS256, SECRET)
                .unwrap()
                .with_kid("a"),
        )
        .unwrap()
        .with(VerifyingKey::rsa_pem(Algorithm::RS256, key_file("rsa2048-public.pem")).unwrap())
        .unwrap();
    assert_hides(&format!("{keys:?}"), SECRET.as_bytes());
    let v = JwtValidator::new(keys).unwrap();
    for d in [format!("{v:?}"), format!("{v:#?}")] {
        assert_hides(&d, SECRET.as_bytes());
        assert_hides(&d, &key_file("rsa2048-public.pem"));
    }
}

#[test]
fn signing_key_debug_hides_the_secret_and_private_keys() {
    let hmac = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    assert_hides(&format!("{hmac:?}"), SECRET.as_bytes());
    assert_hides(&format!("{hmac:#?}"), SECRET.as_bytes());
    let rsa_pem = key_file("rsa2048-private.pem");
    let rsa = SigningKey::rsa_pem(Algorithm::RS256, &rsa_pem).unwrap();
    assert_hides(&format!("{rsa:?}"), &rsa_pem);
    let ec_pem = key_file("ec-p256-private.pem");
    let ec = SigningKey::ec_pem(Algorithm::ES256, &ec_pem).unwrap();
    assert_hides(&format!("{ec:?}"), &ec_pem);
    let ed_pem = key_file("ed25519-private.pem");
    let ed = SigningKey::ed_pem(&ed_pem).unwrap();
    assert_hides(&format!("{ed:#?}"), &ed_pem);
}

#[test]
fn layer_and_service_debug_hide_the_secret() {
    let layer = layer()
        .style(Style::FastApi)
        .require_scopes(["me"])
        .unwrap();
    let d = format!("{layer:?}");
    assert_hides(&d, SECRET.as_bytes());
    assert!(d.contains("AuthLayer"));
    let svc = layer.layer(Echo::default());
    assert_hides(&format!("{svc:#?}"), SECRET.as_bytes());
}

#[test]
fn auth_error_debug_is_fixed_text() {
    let e = AuthError::invalid_token("Invalid signature");
    assert_eq!(
        format!("{e:?}"),
        r#"AuthError { kind: InvalidToken, description: "Invalid signature" }"#
    );
    assert_eq!(e.to_string(), "invalid_token: Invalid signature");
}
