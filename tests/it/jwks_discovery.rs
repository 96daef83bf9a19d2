//! OpenID Connect discovery, RFC 8414 discovery, and several issuers at once.

use std::convert::Infallible;
use std::time::Duration;

use crate::jwks_server::JwksServer;
use crate::keys::*;
use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::jwks::{JwksErrorKind, RemoteKeys};
use tower_jwt_auth::rotation::{KeyPair, KeyRotation};
use tower_jwt_auth::{Algorithm, AuthError, AuthLayer, Claims, JwtValidator};

async fn call(validator: &JwtValidator, token: &str) -> (StatusCode, Option<&'static str>) {
    let svc = AuthLayer::new(validator.clone()).layer(service_fn(|req: Request<()>| async move {
        let sub = req
            .extensions()
            .get::<Claims>()
            .unwrap()
            .sub()
            .unwrap()
            .to_owned();
        Ok::<_, Infallible>(Response::new(sub))
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

fn token(rotation: &KeyRotation, iss: &str) -> String {
    rotation.sign(&claims().with_iss(iss)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_connect_discovery() {
    let server = JwksServer::start(KeyRotation::new(
        KeyPair::ec_pem(Algorithm::ES256, P256).unwrap(),
    ))
    .await;
    let issuer = server.base();
    let keys = RemoteKeys::builder().issuer(&issuer).build().await.unwrap();
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(server.jwks_hits(), 1);
    let validator = keys.validator().unwrap();
    assert_eq!(
        call(&validator, &token(&server.state.rotation, &issuer)).await,
        OK
    );

    // The token's iss picks the keys: another issuer, or none, is refused.
    assert_eq!(
        call(
            &validator,
            &token(&server.state.rotation, "https://evil.example")
        )
        .await,
        (StatusCode::UNAUTHORIZED, Some("Unknown issuer"))
    );
    let no_iss = server.state.rotation.sign(&claims()).unwrap();
    assert_eq!(
        call(&validator, &no_iss).await,
        (StatusCode::UNAUTHORIZED, Some("Missing iss claim"))
    );
    assert_eq!(keys.stats().unknown_issuer, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_8414_discovery_when_openid_configuration_is_missing() {
    let server = JwksServer::start(KeyRotation::new(KeyPair::ed_pem(ED25519).unwrap())).await;
    let issuer = format!("{}/tenant", server.base());
    *server.state.issuer.lock().unwrap() = Some(issuer.clone());
    *server.state.oidc.lock().unwrap() = false;
    *server.state.oauth_path.lock().unwrap() = Some("/tenant".into());
    let keys = RemoteKeys::builder().issuer(&issuer).build().await.unwrap();
    assert_eq!(server.hits("/tenant/.well-known/openid-configuration"), 1);
    assert_eq!(
        server.hits("/.well-known/oauth-authorization-server/tenant"),
        1
    );
    assert_eq!(
        call(
            &keys.validator().unwrap(),
            &token(&server.state.rotation, &issuer)
        )
        .await,
        OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_for_another_issuer_is_refused() {
    let server = JwksServer::start(KeyRotation::new(KeyPair::ed_pem(ED25519).unwrap())).await;
    // Served at the configured issuer's well-known path, naming another issuer.
    *server.state.issuer.lock().unwrap() = Some("https://impostor.example".into());
    let err = RemoteKeys::builder()
        .issuer(server.base())
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Discovery, "{err}");
    assert!(err.to_string().contains("names the issuer"), "{err}");
    assert_eq!(
        server.jwks_hits(),
        0,
        "no keys fetched from a mismatched document"
    );

    // Exact comparison: a trailing slash is another issuer (OIDC Discovery §4.3).
    *server.state.issuer.lock().unwrap() = None;
    let err = RemoteKeys::builder()
        .issuer(format!("{}/", server.base()))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Discovery, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_down_is_a_failed_fetch() {
    let server = JwksServer::start(KeyRotation::new(KeyPair::ed_pem(ED25519).unwrap())).await;
    *server.state.oidc.lock().unwrap() = false;
    let err = RemoteKeys::builder()
        .issuer(server.base())
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Status, "{err}");
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_issuers_each_with_their_keys() {
    let a = JwksServer::start(KeyRotation::new(
        KeyPair::rsa_pem(Algorithm::RS256, RSA_2048).unwrap(),
    ))
    .await;
    let b = JwksServer::start(KeyRotation::new(
        KeyPair::rsa_pem(Algorithm::PS256, RSA_2048_B).unwrap(),
    ))
    .await;
    let (iss_a, iss_b) = (
        a.base(),
        format!("https://b.example/realms/{}", b.addr.port()),
    );
    let keys = RemoteKeys::builder()
        .issuer(&iss_a)
        .issuer_jwks_url(&iss_b, b.jwks_url())
        .refetch_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let validator = keys.validator().unwrap();
    assert_eq!(
        call(&validator, &token(&a.state.rotation, &iss_a)).await,
        OK
    );
    assert_eq!(
        call(&validator, &token(&b.state.rotation, &iss_b)).await,
        OK
    );

    // B's token claiming to be from A: A's keys lack B's kid.
    assert_eq!(
        call(&validator, &token(&b.state.rotation, &iss_a)).await,
        (StatusCode::UNAUTHORIZED, Some("Unknown key id"))
    );
    // ... and with the kid of A's key, the signature does not verify.
    let forged = b
        .state
        .rotation
        .signing_key()
        .with_kid(a.state.rotation.active_kid())
        .sign(&claims().with_iss(&iss_a))
        .unwrap();
    assert_eq!(
        call(&validator, &forged).await,
        (StatusCode::UNAUTHORIZED, Some("Invalid signature"))
    );
    assert_eq!(keys.stats_for(Some(&iss_a)).unwrap().refetch_unknown_kid, 1);
    assert_eq!(keys.stats_for(Some(&iss_b)).unwrap().refetch_unknown_kid, 0);
    assert!(keys.stats_for(Some("https://other.example")).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_issuer_beside_a_remote_one() {
    let remote = JwksServer::start(KeyRotation::new(KeyPair::ed_pem(ED25519).unwrap())).await;
    let own = KeyRotation::new(
        KeyPair::ec_pem(Algorithm::ES384, P384)
            .unwrap()
            .with_kid("gateway-1"),
    );
    let keys = RemoteKeys::builder()
        .issuer(remote.base())
        .local_issuer("https://gateway.example", own.clone())
        .build()
        .await
        .unwrap();
    let validator = keys.validator().unwrap();
    assert_eq!(
        call(&validator, &token(&own, "https://gateway.example")).await,
        OK
    );
    assert_eq!(
        call(&validator, &token(&remote.state.rotation, &remote.base())).await,
        OK
    );
    // The gateway's key does not vouch for the remote issuer, nor the reverse.
    assert_eq!(
        call(&validator, &token(&own, &remote.base())).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &validator,
            &token(&remote.state.rotation, "https://gateway.example")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // Rotation of the local keys is seen at once.
    own.rotate(KeyPair::ed_pem(ED25519).unwrap().with_kid("gateway-2"))
        .unwrap();
    assert_eq!(
        call(&validator, &token(&own, "https://gateway.example")).await,
        OK
    );
    // A local issuer cannot also be remote.
    let err = RemoteKeys::builder()
        .issuer(remote.base())
        .local_issuer(remote.base(), own)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwksErrorKind::Config);
}
