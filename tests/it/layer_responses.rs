//! Rejection responses (issue 2, items 6 and 7): both styles exactly, no token
//! text echoed, challenge syntax, realm, `reject_with`, optional mode.

use crate::common::*;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use tower_jwt_auth::{
    AuthError, AuthErrorKind, AuthLayer, Claims, ConfigError, DefaultRejection, RejectContext,
    Style,
};

fn fastapi() -> AuthLayer {
    layer().style(Style::FastApi)
}

// === standards style, exactly ====================================================

#[tokio::test]
async fn standards_no_credentials_exactly() {
    let r = send(&layer(), request()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[WWW_AUTHENTICATE], r#"Bearer realm="api""#);
    assert_eq!(r.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        r.body,
        r#"{"error":"unauthorized","error_description":"No bearer token"}"#
    );
    assert_eq!(r.error, Some(AuthError::missing_credentials()));
}

#[tokio::test]
async fn standards_expired_token_exactly_as_rfc_6750_example() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    let r = send_token(&token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers[WWW_AUTHENTICATE],
        r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#
    );
    assert_eq!(
        r.body,
        r#"{"error":"invalid_token","error_description":"The access token expired"}"#
    );
    let e = r.error.unwrap();
    assert_eq!(e.kind(), AuthErrorKind::InvalidToken);
    assert_eq!(e.description(), "The access token expired");
    assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn standards_invalid_request_exactly() {
    let r = send(&layer(), with_authorization(&[b"Bearer "])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers[WWW_AUTHENTICATE],
        r#"Bearer realm="api", error="invalid_request", error_description="Empty bearer token""#
    );
    assert_eq!(
        r.body,
        r#"{"error":"invalid_request","error_description":"Empty bearer token"}"#
    );
    assert_eq!(r.kind(), Some(AuthErrorKind::InvalidRequest));
}

#[tokio::test]
async fn standards_every_client_error_carries_a_bearer_challenge() {
    // RFC 6750 §3 / RFC 9110 §15.5.2: every 400, 401 and 403 has a challenge
    // with at least one auth-param (the realm).
    let scoped = layer().require_scopes(["me"]).unwrap();
    for (layer, req) in bad_requests(&layer(), &scoped) {
        let r = send(&layer, req).await;
        assert!(matches!(r.status.as_u16(), 400 | 401 | 403), "{r:?}");
        let params = challenge_params(r.challenge().expect("challenge"));
        assert_eq!(params[0], ("realm".into(), "api".into()), "{r:?}");
    }
}

// === FastAPI style, exactly =======================================================

#[tokio::test]
async fn fastapi_no_credentials_is_not_authenticated() {
    let r = send(&fastapi(), request()).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not authenticated",
        Some("Bearer"),
    );
    assert_eq!(r.kind(), Some(AuthErrorKind::MissingCredentials));
}

#[tokio::test]
async fn fastapi_basic_scheme_is_not_authenticated() {
    let r = send(&fastapi(), with_authorization(&[b"Basic dXNlcjpwYXNz"])).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not authenticated",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn fastapi_empty_authorization_header_is_not_authenticated() {
    for v in [&b""[..], b"   "] {
        let r = send(&fastapi(), with_authorization(&[v])).await;
        assert_fastapi(
            &r,
            StatusCode::UNAUTHORIZED,
            "Not authenticated",
            Some("Bearer"),
        );
    }
}

#[tokio::test]
async fn fastapi_bad_token_is_could_not_validate_credentials() {
    let r = send(&fastapi(), with_bearer("not.a.jwt")).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn fastapi_expired_token_is_could_not_validate_credentials() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    let r = send(&fastapi(), with_bearer(&token)).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
    assert_eq!(r.error.unwrap().description(), "The access token expired");
}

#[tokio::test]
async fn fastapi_empty_token_is_could_not_validate_credentials() {
    for v in [&b"Bearer"[..], b"Bearer ", b"Bearer    "] {
        let r = send(&fastapi(), with_authorization(&[v])).await;
        assert_fastapi(
            &r,
            StatusCode::UNAUTHORIZED,
            "Could not validate credentials",
            Some("Bearer"),
        );
        assert_eq!(r.kind(), Some(AuthErrorKind::InvalidRequest));
    }
}

#[tokio::test]
async fn fastapi_tab_separator_is_could_not_validate_credentials() {
    let v = format!("Bearer\t{}", valid_token());
    let r = send(&fastapi(), with_authorization(&[v.as_bytes()])).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn fastapi_two_field_lines_are_could_not_validate_credentials() {
    let v = format!("Bearer {}", valid_token());
    let r = send(
        &fastapi(),
        with_authorization(&[v.as_bytes(), v.as_bytes()]),
    )
    .await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn fastapi_token_too_long_is_could_not_validate_credentials() {
    let r = send(&fastapi(), with_bearer(&"a".repeat(9000))).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
    assert_eq!(r.error.unwrap().description(), "Token too long");
}

#[tokio::test]
async fn fastapi_valid_token_passes() {
    assert_ok(&send(&fastapi(), with_bearer(&valid_token())).await);
}

#[tokio::test]
async fn fastapi_style_ignores_the_realm() {
    let layer = fastapi().realm("my realm").unwrap();
    let r = send(&layer, request()).await;
    assert_eq!(r.challenge(), Some("Bearer"));
}

#[test]
fn style_parses_from_its_names() {
    assert_eq!("standards".parse::<Style>().unwrap(), Style::Standards);
    assert_eq!("fastapi".parse::<Style>().unwrap(), Style::FastApi);
    assert!("FastAPI".parse::<Style>().is_err());
    assert_eq!(Style::default(), Style::Standards);
}

// === no token text echoed, challenge charset ========================================

const SECRET_SUB: &str = "sub-value-that-must-not-leak";
const SECRET_KID: &str = "kid-value-that-must-not-leak";

/// Bad tokens of every kind, each with distinctive content.
fn bad_tokens() -> Vec<String> {
    let p = |extra: &str| format!(r#"{{"sub":"{SECRET_SUB}","exp":{EXP}{extra}}}"#);
    vec![
        // expired
        hs256(&format!(
            r#"{{"sub":"{SECRET_SUB}","exp":{}}}"#,
            NOW - 10_000
        )),
        // wrong key
        hmac_token(
            tower_jwt_auth::Algorithm::HS256,
            OTHER_SECRET.as_bytes(),
            r#"{"alg":"HS256"}"#,
            &p(""),
        ),
        // unknown kid
        hs256_raw(
            &format!(r#"{{"alg":"HS256","kid":"{SECRET_KID}"}}"#),
            &p(""),
        ),
        // alg none
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(p(""))),
        // wrong audience, issuer in the future
        hs256(&p(r#","aud":"aud-that-must-not-leak""#)),
        hs256(&p(&format!(r#","nbf":{}"#, NOW + 10_000))),
        // malformed claims, crit, typ
        hs256(&format!(r#"{{"sub":"{SECRET_SUB}","exp":"{SECRET_SUB}"}}"#)),
        hs256_raw(r#"{"alg":"HS256","crit":["x-must-not-leak"]}"#, &p("")),
        hs256_raw(r#"{"alg":"HS256","typ":"typ-must-not-leak"}"#, &p("")),
        // too long
        hs256(&p(&format!(r#","pad":"{}""#, "x".repeat(9000)))),
        // not a JWS
        "garbage-token-that-must-not-leak".to_owned(),
    ]
}

/// Requests that the layer refuses (token or header problems).
fn bad_requests(
    plain: &AuthLayer,
    scoped: &AuthLayer,
) -> Vec<(AuthLayer, http::Request<http_body_util::Full<Bytes>>)> {
    let mut out = Vec::new();
    for l in [plain, scoped] {
        out.push((l.clone(), request()));
        out.push((l.clone(), with_authorization(&[b"Basic dXNlcjpwYXNz"])));
        out.push((l.clone(), with_authorization(&[b"Bearer "])));
        out.push((l.clone(), with_authorization(&[b"Bearer a b"])));
        out.push((l.clone(), with_authorization(&[b"Bearer \xff\xfe"])));
        for t in bad_tokens() {
            out.push((l.clone(), with_bearer(&t)));
        }
    }
    // A valid token without the required scope.
    out.push((scoped.clone(), with_bearer(&valid_token())));
    out
}

#[track_caller]
fn assert_no_echo(r: &Reply, token: &str) {
    let mut forbidden: Vec<&str> = vec![token, SECRET_SUB, SECRET_KID, "must-not-leak"];
    let parts: Vec<&str> = token.split('.').filter(|p| p.len() >= 8).collect();
    forbidden.extend(parts);
    let mut texts: Vec<String> = vec![r.body.clone()];
    for (name, value) in &r.headers {
        texts.push(format!(
            "{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if let Some(e) = &r.error {
        texts.push(format!("{e:?}"));
        texts.push(e.to_string());
    }
    for text in &texts {
        for f in &forbidden {
            assert!(!text.contains(f), "{f:?} echoed in {text:?}");
        }
    }
}

#[tokio::test]
async fn no_token_text_is_echoed_standards_style() {
    for token in bad_tokens() {
        let r = send_token(&token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert_no_echo(&r, &token);
        challenge_params(r.challenge().unwrap());
    }
}

#[tokio::test]
async fn no_token_text_is_echoed_fastapi_style() {
    for token in bad_tokens() {
        let r = send(&fastapi(), with_bearer(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert_no_echo(&r, &token);
    }
}

#[tokio::test]
async fn no_token_text_is_echoed_on_a_scoped_route() {
    let scoped = layer().require_scopes(["me"]).unwrap();
    let token = hs256(&format!(
        r#"{{"sub":"{SECRET_SUB}","exp":{EXP},"scope":"scope-that-must-not-leak"}}"#
    ));
    let r = send(&scoped, with_bearer(&token)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_no_echo(&r, &token);
}

#[tokio::test]
async fn no_header_text_is_echoed_for_bad_characters() {
    let r = send(
        &layer(),
        with_authorization(&[b"Bearer abc\"must-not-leak\\"]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_no_echo(&r, "abc\"must-not-leak\\");
}

#[tokio::test]
async fn every_challenge_stays_in_the_rfc_6750_charset() {
    let scoped = layer().require_scopes(["me", "items:read"]).unwrap();
    for style in [Style::Standards, Style::FastApi] {
        let plain = layer().style(style);
        let scoped = scoped.clone().style(style);
        for (layer, req) in bad_requests(&plain, &scoped) {
            let r = send(&layer, req).await;
            if let Some(c) = r.challenge() {
                challenge_params(c);
            }
        }
    }
}

#[tokio::test]
async fn every_rejection_is_json() {
    let scoped = layer().require_scopes(["me"]).unwrap();
    for style in [Style::Standards, Style::FastApi] {
        for (layer, req) in bad_requests(&layer().style(style), &scoped.clone().style(style)) {
            let r = send(&layer, req).await;
            assert_eq!(r.headers[CONTENT_TYPE], "application/json", "{r:?}");
            let json = r.json();
            assert!(json.is_object(), "{json}");
            assert!(r.error.is_some());
            assert!(!r.reached());
        }
    }
}

// === realm ============================================================================

#[tokio::test]
async fn custom_realm_in_the_bare_challenge() {
    let layer = layer().realm("my app").unwrap();
    let r = send(&layer, request()).await;
    assert_eq!(r.challenge(), Some(r#"Bearer realm="my app""#));
}

#[tokio::test]
async fn custom_realm_in_an_error_challenge() {
    let layer = layer().realm("example").unwrap();
    let r = send(&layer, with_bearer("not.a.jwt")).await;
    assert_eq!(
        r.challenge(),
        Some(
            r#"Bearer realm="example", error="invalid_token", error_description="Malformed token""#
        )
    );
}

#[test]
fn realm_with_a_quote_is_refused() {
    assert_eq!(
        layer().realm("a\"b").unwrap_err(),
        ConfigError::InvalidRealm
    );
}

#[test]
fn realm_with_a_backslash_is_refused() {
    assert_eq!(
        layer().realm("a\\b").unwrap_err(),
        ConfigError::InvalidRealm
    );
}

#[test]
fn realm_with_non_ascii_is_refused() {
    assert_eq!(
        layer().realm("réalm").unwrap_err(),
        ConfigError::InvalidRealm
    );
}

#[test]
fn realm_with_control_characters_is_refused() {
    for bad in ["a\r\nb", "a\tb", "a\x7fb", "a\0b"] {
        assert_eq!(
            DefaultRejection::new().realm(bad).unwrap_err(),
            ConfigError::InvalidRealm,
            "{bad:?}"
        );
    }
}

#[test]
fn default_rejection_builds_challenges() {
    let d = DefaultRejection::new().realm("r").unwrap();
    assert_eq!(
        d.challenge(&AuthError::missing_credentials()).unwrap(),
        r#"Bearer realm="r""#
    );
    let d = d.style(Style::FastApi);
    assert_eq!(d.current_style(), Style::FastApi);
    assert_eq!(
        d.challenge(&AuthError::invalid_token("x")).unwrap(),
        "Bearer"
    );
    assert!(d.challenge(&AuthError::inactive_user()).is_none());
}

// === reject_with ========================================================================

fn teapot(e: &AuthError, ctx: &RejectContext<'_>) -> Response<Bytes> {
    let body = format!(
        "{} {} {}",
        ctx.method(),
        ctx.uri().path(),
        e.kind().as_str()
    );
    Response::builder()
        .status(StatusCode::IM_A_TEAPOT)
        .header("x-custom", "yes")
        .body(Bytes::from(body))
        .unwrap()
}

#[tokio::test]
async fn reject_with_replaces_the_response_entirely() {
    let layer = layer().reject_with(teapot);
    let r = send(&layer, request()).await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(r.body, "GET /me missing");
    assert_eq!(r.headers["x-custom"], "yes");
    assert!(r.headers.get(WWW_AUTHENTICATE).is_none());
    assert!(r.headers.get(CONTENT_TYPE).is_none());
    assert!(!r.reached());
    assert_eq!(r.kind(), Some(AuthErrorKind::MissingCredentials));
}

#[tokio::test]
async fn reject_with_sees_every_kind() {
    let layer = layer().reject_with(teapot);
    let r = send(&layer, with_bearer("not.a.jwt")).await;
    assert_eq!(r.body, "GET /me invalid_token");
    let r = send(&layer, with_authorization(&[b"Bearer "])).await;
    assert_eq!(r.body, "GET /me invalid_request");
    let scoped = layer.clone().require_scopes(["me"]).unwrap();
    let r = send(&scoped, with_bearer(&valid_token())).await;
    assert_eq!(r.body, "GET /me insufficient_scope");
    assert_eq!(r.error.unwrap().scope(), Some("me"));
}

#[tokio::test]
async fn reject_with_lets_valid_tokens_through() {
    let layer = layer().reject_with(teapot);
    assert_ok(&send(&layer, with_bearer(&valid_token())).await);
}

#[tokio::test]
async fn reject_with_a_closure_capturing_state() {
    let message = std::sync::Arc::<str>::from("custom refusal");
    let layer = layer().reject_with(move |_: &AuthError, _: &RejectContext<'_>| {
        Response::new(Bytes::from(message.to_string()))
    });
    let r = send(&layer, request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "custom refusal");
    assert!(!r.reached());
    assert!(r.error.is_some());
}

// === gRPC requests ==========================================================================

fn grpc(
    req: http::Request<http_body_util::Full<Bytes>>,
) -> http::Request<http_body_util::Full<Bytes>> {
    let mut req = req;
    req.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    req
}

#[tokio::test]
async fn grpc_no_credentials_is_unauthenticated() {
    let r = send(&layer(), grpc(request())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["grpc-status"], "16");
    assert_eq!(r.headers["grpc-message"], "No bearer token");
    assert_eq!(r.headers[CONTENT_TYPE], "application/grpc");
    assert!(r.body.is_empty());
    assert!(!r.reached());
}

#[tokio::test]
async fn grpc_missing_scope_is_permission_denied() {
    let scoped = layer().require_scopes(["me"]).unwrap();
    let r = send(&scoped, grpc(with_bearer(&valid_token()))).await;
    assert_eq!(r.headers["grpc-status"], "7");
}

#[tokio::test]
async fn grpc_bad_token_does_not_echo_it() {
    let token = "garbage-token-that-must-not-leak";
    let r = send(&layer(), grpc(with_bearer(token))).await;
    assert_eq!(r.headers["grpc-status"], "16");
    assert_no_echo(&r, token);
}

// === optional authentication ==================================================================

#[tokio::test]
async fn optional_mode_without_credentials_passes_with_no_claims() {
    let r = send(&layer().optional(), request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.reached());
    assert!(r.seen::<Claims>().is_none());
    assert!(r.seen.as_ref().unwrap().is_empty());
    assert!(r.error.is_none());
}

#[tokio::test]
async fn optional_mode_with_another_scheme_passes_with_no_claims() {
    let r = send(
        &layer().optional(),
        with_authorization(&[b"Basic dXNlcjpwYXNz"]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.seen::<Claims>().is_none());
}

#[tokio::test]
async fn optional_mode_with_a_valid_token_inserts_the_claims() {
    let r = send(&layer().optional(), with_bearer(&valid_token())).await;
    assert_ok(&r);
    assert_eq!(r.seen::<Claims>().unwrap().sub(), Some("johndoe"));
}

#[tokio::test]
async fn optional_mode_still_refuses_a_bad_token() {
    let r = send(&layer().optional(), with_bearer("not.a.jwt")).await;
    assert_invalid_token(&r, "Malformed token");
}

#[tokio::test]
async fn optional_mode_still_refuses_an_expired_token() {
    let token = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    let r = send(&layer().optional(), with_bearer(&token)).await;
    assert_invalid_token(&r, "The access token expired");
}

#[tokio::test]
async fn optional_mode_still_refuses_an_empty_token() {
    let r = send(&layer().optional(), with_authorization(&[b"Bearer "])).await;
    assert_invalid_request(&r, "Empty bearer token");
}

#[tokio::test]
async fn optional_mode_fastapi_style_bad_token() {
    let r = send(&fastapi().optional(), with_bearer("not.a.jwt")).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
}
