//! Claims: the application's own type, and the standard `Claims` (issue 2, item 3).

use crate::common::*;
use serde::Deserialize;
use tower_jwt_auth::{Algorithm, AuthLayer, Claims, SigningKey};

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct AppClaims {
    sub: String,
    exp: i64,
    role: String,
    tenant: u32,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictClaims {
    sub: String,
    exp: i64,
}

#[tokio::test]
async fn custom_claims_type_is_decoded_and_inserted() {
    let token = hs256(&payload_with(r#""role":"admin","tenant":7"#));
    let layer = layer().with_claims::<AppClaims>();
    let r = send(&layer, with_bearer(&token)).await;
    assert_ok(&r);
    assert_eq!(
        r.seen::<AppClaims>(),
        Some(AppClaims {
            sub: "johndoe".into(),
            exp: EXP as i64,
            role: "admin".into(),
            tenant: 7,
        })
    );
    // Only the application's type: the standard claims are not decoded too.
    assert!(r.seen::<Claims>().is_none());
}

#[tokio::test]
async fn custom_claims_missing_a_field_are_invalid_token() {
    let token = hs256(&payload_with(r#""role":"admin""#));
    let r = send(&layer().with_claims::<AppClaims>(), with_bearer(&token)).await;
    assert_invalid_token(&r, "Malformed token claims");
}

#[tokio::test]
async fn custom_claims_of_the_wrong_type_are_invalid_token() {
    let token = hs256(&payload_with(r#""role":"admin","tenant":"seven""#));
    let r = send(&layer().with_claims::<AppClaims>(), with_bearer(&token)).await;
    assert_invalid_token(&r, "Malformed token claims");
}

#[tokio::test]
async fn custom_claims_type_decides_about_unknown_claims() {
    let token = hs256(&payload_with(r#""role":"admin""#));
    let r = send(&layer().with_claims::<StrictClaims>(), with_bearer(&token)).await;
    assert_invalid_token(&r, "Malformed token claims");
    let r = send(
        &layer().with_claims::<StrictClaims>(),
        with_bearer(&valid_token()),
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.seen::<StrictClaims>().unwrap().sub, "johndoe");
}

#[tokio::test]
async fn custom_claims_are_still_validated_for_exp() {
    // The registered claims are checked whatever the application's type.
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{},"role":"admin","tenant":1}}"#,
        NOW - 3600
    ));
    let r = send(&layer().with_claims::<AppClaims>(), with_bearer(&token)).await;
    assert_invalid_token(&r, "The access token expired");
}

#[tokio::test]
async fn custom_claims_work_with_a_serde_json_value() {
    let token = hs256(&payload_with(r#""nested":{"a":[1,2]}"#));
    let r = send(
        &layer().with_claims::<serde_json::Value>(),
        with_bearer(&token),
    )
    .await;
    assert_ok(&r);
    let v = r.seen::<serde_json::Value>().unwrap();
    assert_eq!(v["nested"]["a"][1], 2);
    assert_eq!(v["sub"], "johndoe");
}

#[tokio::test]
async fn standard_claims_accessors() {
    let token = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{EXP},"iat":{},"nbf":{},"iss":"https://auth.example.com",
            "aud":["api","other"],"jti":"id-123","scope":"me items","scp":["admin"],
            "extra":"ignored"}}"#,
        NOW - 10,
        NOW - 5
    ));
    let v = validator()
        .issuer(["https://auth.example.com"])
        .audience(["api"]);
    let r = send(&AuthLayer::new(v), with_bearer(&token)).await;
    assert_ok(&r);
    let c = r.seen::<Claims>().unwrap();
    assert_eq!(c.sub(), Some("johndoe"));
    assert_eq!(c.exp(), Some(EXP as i64));
    assert_eq!(c.iat(), Some(NOW as i64 - 10));
    assert_eq!(c.nbf(), Some(NOW as i64 - 5));
    assert_eq!(c.iss(), Some("https://auth.example.com"));
    assert_eq!(c.audience().collect::<Vec<_>>(), ["api", "other"]);
    assert_eq!(c.jti(), Some("id-123"));
    assert_eq!(c.scope(), Some("me items"));
    assert_eq!(c.scopes().collect::<Vec<_>>(), ["me", "items", "admin"]);
    assert!(c.has_scope("me"));
    assert!(c.has_scope("items"));
    assert!(c.has_scope("admin"));
    assert!(!c.has_scope("ME"));
    assert!(!c.has_scope("me items"));
    assert!(!c.has_scope(""));
}

#[tokio::test]
async fn standard_claims_with_only_sub_and_exp() {
    let r = send_token(&valid_token()).await;
    let c = r.seen::<Claims>().unwrap();
    assert_eq!(c.sub(), Some("johndoe"));
    assert_eq!(c.iat(), None);
    assert_eq!(c.nbf(), None);
    assert_eq!(c.iss(), None);
    assert_eq!(c.audience().count(), 0);
    assert_eq!(c.jti(), None);
    assert_eq!(c.scope(), None);
    assert_eq!(c.scopes().count(), 0);
}

#[tokio::test]
async fn aud_string_reads_as_one_audience() {
    let token = hs256(&payload_with(r#""aud":"api""#));
    let r = send(
        &AuthLayer::new(validator().audience(["api"])),
        with_bearer(&token),
    )
    .await;
    assert_eq!(
        r.seen::<Claims>().unwrap().audience().collect::<Vec<_>>(),
        ["api"]
    );
}

#[tokio::test]
async fn scope_string_with_repeated_spaces_yields_no_empty_scope() {
    let token = hs256(&payload_with(r#""scope":" me  items ""#));
    let c = send_token(&token).await.seen::<Claims>().unwrap();
    assert_eq!(c.scopes().collect::<Vec<_>>(), ["me", "items"]);
}

#[tokio::test]
async fn scp_array_alone_is_read() {
    let token = hs256(&payload_with(r#""scp":["me","items"]"#));
    let c = send_token(&token).await.seen::<Claims>().unwrap();
    assert_eq!(c.scope(), None);
    assert_eq!(c.scopes().collect::<Vec<_>>(), ["me", "items"]);
    assert!(c.has_scope("items"));
}

#[tokio::test]
async fn scp_not_an_array_of_strings_is_invalid_token() {
    let token = hs256(&payload_with(r#""scp":[1,2]"#));
    assert_invalid_token(&send_token(&token).await, "Malformed token claims");
}

#[tokio::test]
async fn scope_not_a_string_is_invalid_token() {
    let token = hs256(&payload_with(r#""scope":["me"]"#));
    assert_invalid_token(&send_token(&token).await, "Malformed token claims");
}

#[tokio::test]
async fn claims_built_with_the_builder_round_trip() {
    let claims = Claims::new("johndoe")
        .with_exp(EXP as i64)
        .with_iat(NOW as i64)
        .with_nbf(NOW as i64)
        .with_iss("https://auth.example.com")
        .with_aud("api")
        .with_jti("j-1")
        .with_scope("me items");
    let token = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .sign(&claims)
        .unwrap();
    let v = validator()
        .issuer(["https://auth.example.com"])
        .audience(["api"]);
    let r = send(&AuthLayer::new(v), with_bearer(&token)).await;
    assert_ok(&r);
    assert_eq!(r.seen::<Claims>().unwrap(), claims);
}

#[test]
fn claims_serialize_without_unset_members() {
    let json = serde_json::to_string(&Claims::new("johndoe").with_exp(5)).unwrap();
    assert_eq!(json, r#"{"sub":"johndoe","exp":5}"#);
}

#[test]
fn validator_decodes_claims_on_its_own() {
    let c: Claims = validator().validate(&valid_token()).unwrap();
    assert_eq!(c.sub(), Some("johndoe"));
    let e = validator().validate::<Claims>("not.a.jwt").unwrap_err();
    assert_eq!(e.kind(), tower_jwt_auth::AuthErrorKind::InvalidToken);
}
