//! Key rotation and the JWK Set endpoint.

use std::convert::Infallible;

use crate::keys::*;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::jwk::JwkSet;
use tower_jwt_auth::rotation::{JwksEndpoint, KeyPair, KeyRotation};
use tower_jwt_auth::{Algorithm, AuthError, AuthLayer, Claims, ConfigError, JwtValidator};

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn rsa(kid: &str, pem: &str) -> KeyPair {
    KeyPair::rsa_pem(Algorithm::RS256, pem)
        .unwrap()
        .with_kid(kid)
}

#[test]
fn old_tokens_stay_valid_new_tokens_use_the_new_kid_retired_tokens_are_refused() {
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    let validator = rotation.validator().unwrap();
    let old = rotation.sign(&claims()).unwrap();
    assert_eq!(kid_of(&old), "one");

    rotation.rotate(rsa("two", RSA_2048_B)).unwrap();
    assert_eq!(rotation.active_kid(), "two");
    let new = rotation.sign(&claims()).unwrap();
    assert_eq!(kid_of(&new), "two");
    assert_eq!(
        kid_of(&rotation.signing_key().sign(&claims()).unwrap()),
        "two"
    );
    assert!(validator.validate::<Claims>(&old).is_ok(), "old key kept");
    assert!(validator.validate::<Claims>(&new).is_ok());

    rotation.retire("one").unwrap();
    assert_eq!(rotation.kids(), ["two"]);
    let err = validator.validate::<Claims>(&old).unwrap_err();
    assert_eq!(err.description(), "Unknown key id");
    assert!(validator.validate::<Claims>(&new).is_ok());
}

#[test]
fn a_key_is_published_before_it_signs() {
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    rotation
        .add(
            KeyPair::ec_pem(Algorithm::ES256, P256)
                .unwrap()
                .with_kid("next"),
        )
        .unwrap();
    assert_eq!(rotation.active_kid(), "one", "add does not activate");
    let published = JwkSet::from_json(&rotation.jwks_json()).unwrap();
    assert!(published.find("next").is_some());
    assert!(published.find("one").is_some());

    // A validator that allows the next key's algorithm from the start.
    let validator =
        JwtValidator::from_source(rotation.clone(), [Algorithm::RS256, Algorithm::ES256]).unwrap();
    rotation.activate("next").unwrap();
    let token = rotation.sign(&claims()).unwrap();
    assert_eq!(kid_of(&token), "next");
    assert!(validator.validate::<Claims>(&token).is_ok());
}

#[test]
fn the_active_key_cannot_be_retired_and_kids_are_unique() {
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    assert!(matches!(
        rotation.retire("one"),
        Err(ConfigError::Invalid(_))
    ));
    assert!(matches!(
        rotation.retire("nope"),
        Err(ConfigError::Invalid(_))
    ));
    assert!(matches!(
        rotation.rotate(rsa("one", RSA_2048_B)),
        Err(ConfigError::DuplicateKid(_))
    ));
    assert!(rotation.activate("nope").is_err());
    assert_eq!(rotation.active_kid(), "one");
}

#[test]
fn a_public_only_key_verifies_but_never_signs() {
    let previous = rsa("previous", RSA_2048_B);
    let old_token = previous.signing_key().sign(&claims()).unwrap();
    // After a restart only the public half of the previous key is kept.
    let rotation = KeyRotation::new(rsa("current", RSA_2048));
    rotation
        .add_public(previous.jwk().unwrap().clone())
        .unwrap();
    let validator = rotation.validator().unwrap();
    assert!(validator.validate::<Claims>(&old_token).is_ok());
    assert!(rotation.activate("previous").is_err(), "no private half");
    let no_kid = KeyPair::ed_pem(ED25519)
        .unwrap()
        .jwk()
        .unwrap()
        .clone()
        .with_kid("");
    assert!(rotation.add_public(no_kid).is_err());
}

#[test]
fn hmac_keys_rotate_but_are_never_published() {
    let rotation = KeyRotation::new(KeyPair::hmac(Algorithm::HS256, "h1", SECRET_64).unwrap());
    rotation.add(rsa("r1", RSA_2048)).unwrap();
    let published = rotation.jwk_set();
    assert_eq!(published.len(), 1);
    assert_eq!(published.iter().next().unwrap().kid(), Some("r1"));
    assert!(!String::from_utf8_lossy(&rotation.jwks_json()).contains("\"oct\""));
}

#[test]
fn the_published_set_verifies_the_rotation_tokens() {
    let rotation = KeyRotation::new(KeyPair::ed_pem(ED25519).unwrap());
    rotation
        .rotate(KeyPair::ec_pem(Algorithm::ES384, P384).unwrap())
        .unwrap();
    let token = rotation.sign(&claims()).unwrap();
    let (set, skipped) = JwkSet::from_json(&rotation.jwks_json())
        .unwrap()
        .to_key_set();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(set.len(), 2);
    assert!(JwtValidator::new(set)
        .unwrap()
        .validate::<Claims>(&token)
        .is_ok());
}

#[tokio::test]
async fn rotation_through_auth_layer() {
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    let svc =
        AuthLayer::new(rotation.validator().unwrap()).layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let call = |token: String| {
        let svc = svc.clone();
        async move {
            let req = Request::builder()
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap();
            svc.oneshot(req).await.unwrap()
        }
    };
    let old = rotation.sign(&claims()).unwrap();
    rotation.rotate(rsa("two", RSA_2048_B)).unwrap();
    assert_eq!(call(old.clone()).await.status(), StatusCode::OK);
    assert_eq!(
        call(rotation.sign(&claims()).unwrap()).await.status(),
        StatusCode::OK
    );
    rotation.retire("one").unwrap();
    let res = call(old).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.extensions().get::<AuthError>().unwrap().description(),
        "Unknown key id"
    );
}

async fn get(endpoint: &JwksEndpoint<Full<Bytes>>, method: Method) -> (Response<()>, Bytes) {
    let req = Request::builder().method(method).body(()).unwrap();
    let res = endpoint.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (Response::from_parts(parts, ()), body)
}

#[tokio::test]
async fn jwks_endpoint_serves_the_current_public_keys() {
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    let endpoint = JwksEndpoint::new(rotation.clone());
    let (res, body) = get(&endpoint, Method::GET).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    assert_eq!(
        res.headers()["content-length"],
        body.len().to_string().as_str()
    );
    let set = JwkSet::from_json(&body).unwrap();
    assert_eq!(set.len(), 1);

    rotation.rotate(rsa("two", RSA_2048_B)).unwrap();
    let (_, body) = get(&endpoint, Method::GET).await;
    let set = JwkSet::from_json(&body).unwrap();
    assert!(set.find("one").is_some() && set.find("two").is_some());
    assert!(!String::from_utf8_lossy(&body).contains("\"d\""));

    let (res, body) = get(&endpoint, Method::HEAD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.is_empty());
    assert_ne!(res.headers()["content-length"], "0");

    let (res, _) = get(&endpoint, Method::POST).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");

    let endpoint = JwksEndpoint::<Full<Bytes>>::fixed(&rotation.jwk_set())
        .max_age(std::time::Duration::from_secs(60));
    let (res, body) = get(&endpoint, Method::GET).await;
    assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    assert_eq!(JwkSet::from_json(&body).unwrap().len(), 2);
}

#[test]
fn rotation_is_send_sync_and_debug_hides_material() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<KeyRotation>();
    assert_send_sync::<JwksEndpoint<Full<Bytes>>>();
    let rotation = KeyRotation::new(KeyPair::hmac(Algorithm::HS256, "h1", SECRET_64).unwrap());
    let debug = format!("{rotation:?}");
    assert!(debug.contains("h1") && !debug.contains("0123"), "{debug}");
}

/// The token endpoint signs with the rotation's active key, and a rotation
/// takes effect at the next login.
#[cfg(feature = "token")]
#[tokio::test]
async fn token_endpoint_signs_with_the_active_key_of_a_rotation() {
    use tower_jwt_auth::token::{
        MemoryStore, PasswordHasher, StoredUser, TokenEndpoint, UserProfile,
    };

    let hasher = PasswordHasher::builder()
        .params(8 * 1024, 1, 1)
        .unwrap()
        .build();
    let hash = hasher.hash(b"secret").await.unwrap();
    let store =
        MemoryStore::new().with_user(StoredUser::from_profile(UserProfile::new("johndoe"), hash));
    let rotation = KeyRotation::new(rsa("one", RSA_2048));
    let endpoint = TokenEndpoint::builder(store, rotation.clone())
        .hasher(hasher)
        .build();
    let login = || async {
        let req = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(
                b"grant_type=password&username=johndoe&password=secret",
            )))
            .unwrap();
        let res = endpoint.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let validator = rotation.validator().unwrap();

    let first = login().await;
    assert_eq!(kid_of(&first), "one");
    rotation.rotate(rsa("two", RSA_2048_B)).unwrap();
    let second = login().await;
    assert_eq!(kid_of(&second), "two");
    assert!(validator.validate::<Claims>(&first).is_ok());
    assert!(validator.validate::<Claims>(&second).is_ok());
    rotation.retire("one").unwrap();
    assert!(validator.validate::<Claims>(&first).is_err());
}
