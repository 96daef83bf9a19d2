//! Required scopes (FastAPI's `Security(..., scopes=[...])`) and the order of
//! the checks: token, user exists, scopes, active.

use crate::common::*;
use http::StatusCode;
use tower_jwt_auth::{AuthError, AuthErrorKind, AuthLayer, Claims, ConfigError, Style};

const LACKS: &str = "The access token lacks a required scope";

fn scoped() -> AuthLayer {
    layer().require_scopes(["me"]).unwrap()
}

fn scope_token(scope: &str) -> String {
    hs256(&payload_with(&format!(r#""scope":"{scope}""#)))
}

#[track_caller]
fn assert_insufficient(r: &Reply, scope: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert!(!r.reached());
    assert_eq!(r.kind(), Some(AuthErrorKind::InsufficientScope));
    assert_eq!(r.error.as_ref().unwrap().scope(), Some(scope));
    assert_eq!(
        r.challenge(),
        Some(&*format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="{LACKS}", scope="{scope}""#
        ))
    );
    assert_eq!(
        r.body,
        format!(r#"{{"error":"insufficient_scope","error_description":"{LACKS}"}}"#)
    );
}

// --- standards style -----------------------------------------------------------

#[tokio::test]
async fn granted_scope_passes() {
    assert_ok(&send(&scoped(), with_bearer(&scope_token("me"))).await);
}

#[tokio::test]
async fn granted_scope_among_others_passes() {
    assert_ok(&send(&scoped(), with_bearer(&scope_token("items me"))).await);
}

#[tokio::test]
async fn granted_scope_in_scp_array_passes() {
    let token = hs256(&payload_with(r#""scp":["items","me"]"#));
    assert_ok(&send(&scoped(), with_bearer(&token)).await);
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope() {
    assert_insufficient(
        &send(&scoped(), with_bearer(&scope_token("items"))).await,
        "me",
    );
}

#[tokio::test]
async fn token_without_scope_claim_is_403() {
    assert_insufficient(&send(&scoped(), with_bearer(&valid_token())).await, "me");
}

#[tokio::test]
async fn empty_scope_claim_is_403() {
    assert_insufficient(&send(&scoped(), with_bearer(&scope_token(""))).await, "me");
}

#[tokio::test]
async fn scopes_are_case_sensitive() {
    assert_insufficient(
        &send(&scoped(), with_bearer(&scope_token("ME"))).await,
        "me",
    );
}

#[tokio::test]
async fn scope_prefixes_do_not_count() {
    for s in ["mine", "me:read", "me.all", "items,me"] {
        assert_insufficient(&send(&scoped(), with_bearer(&scope_token(s))).await, "me");
    }
}

#[tokio::test]
async fn every_required_scope_is_needed() {
    let layer = layer().require_scopes(["me", "items"]).unwrap();
    assert_insufficient(
        &send(&layer, with_bearer(&scope_token("me"))).await,
        "me items",
    );
    assert_ok(&send(&layer, with_bearer(&scope_token("items me"))).await);
}

#[tokio::test]
async fn scopes_split_between_scope_and_scp_count_together() {
    let layer = layer().require_scopes(["me", "items"]).unwrap();
    let token = hs256(&payload_with(r#""scope":"me","scp":["items"]"#));
    assert_ok(&send(&layer, with_bearer(&token)).await);
}

#[tokio::test]
async fn require_scopes_accumulates_without_duplicates() {
    let layer = layer()
        .require_scopes(["me"])
        .unwrap()
        .require_scopes(["items", "me"])
        .unwrap();
    assert_insufficient(&send(&layer, with_bearer(&valid_token())).await, "me items");
}

#[tokio::test]
async fn scopes_on_a_clone_leave_the_base_layer_unchanged() {
    let base = layer();
    let _scoped = base.clone().require_scopes(["admin"]).unwrap();
    assert_ok(&send(&base, with_bearer(&valid_token())).await);
}

#[tokio::test]
async fn invalid_token_on_a_scoped_route_names_the_scope() {
    let expired = hs256(&format!(
        r#"{{"sub":"johndoe","exp":{},"scope":"me"}}"#,
        NOW - 3600
    ));
    let r = send(&scoped(), with_bearer(&expired)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), Some(AuthErrorKind::InvalidToken));
    assert_eq!(
        r.challenge(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="The access token expired", scope="me""#
        )
    );
}

#[tokio::test]
async fn no_credentials_on_a_scoped_route_has_no_error() {
    let r = send(&scoped(), request()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), Some(AuthErrorKind::MissingCredentials));
    let params = challenge_params(r.challenge().unwrap());
    assert!(params.iter().all(|(n, _)| n != "error"), "{params:?}");
    assert_eq!(params[0], ("realm".into(), "api".into()));
}

#[test]
fn invalid_scope_names_are_refused() {
    for bad in ["", "a b", "a\"b", "a\\b", "é", "tab\t"] {
        let err = layer().require_scopes([bad]).unwrap_err();
        assert_eq!(err, ConfigError::InvalidScope(bad.to_owned()), "{bad:?}");
    }
}

// --- FastAPI style -------------------------------------------------------------

fn fastapi_scoped() -> AuthLayer {
    layer()
        .style(Style::FastApi)
        .require_scopes(["me"])
        .unwrap()
}

#[tokio::test]
async fn fastapi_missing_scope_is_401_not_enough_permissions() {
    let r = send(&fastapi_scoped(), with_bearer(&scope_token("items"))).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not enough permissions",
        Some(r#"Bearer scope="me""#),
    );
    assert_eq!(r.kind(), Some(AuthErrorKind::InsufficientScope));
}

#[tokio::test]
async fn fastapi_missing_scopes_are_listed_in_the_challenge() {
    let layer = layer()
        .style(Style::FastApi)
        .require_scopes(["me", "items"])
        .unwrap();
    let r = send(&layer, with_bearer(&scope_token("me"))).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not enough permissions",
        Some(r#"Bearer scope="me items""#),
    );
}

#[tokio::test]
async fn fastapi_invalid_token_on_a_scoped_route_names_the_scope() {
    let r = send(&fastapi_scoped(), with_bearer("not.a.jwt")).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some(r#"Bearer scope="me""#),
    );
}

#[tokio::test]
async fn fastapi_no_credentials_on_a_scoped_route_is_not_authenticated() {
    // OAuth2PasswordBearer answers before the scopes are looked at.
    let r = send(&fastapi_scoped(), request()).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not authenticated",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn fastapi_granted_scope_passes() {
    assert_ok(&send(&fastapi_scoped(), with_bearer(&scope_token("me items"))).await);
}

// --- the order of the checks: token, user exists, scopes, active --------------------

#[derive(Clone, Debug)]
struct User {
    disabled: bool,
}

fn resolve(c: &Claims) -> std::future::Ready<Result<User, AuthError>> {
    std::future::ready(match c.sub() {
        Some("johndoe") => Ok(User { disabled: false }),
        Some("alice") => Ok(User { disabled: true }),
        _ => Err(AuthError::unknown_user()),
    })
}

/// Runs `token` through a scoped layer (`me`) with a resolver and an active check.
async fn ordered(style: Style, token: &str) -> Reply {
    let layer = layer()
        .style(style)
        .require_scopes(["me"])
        .unwrap()
        .resolve_user(resolve)
        .require_active(|u: &User| !u.disabled);
    send(&layer, with_bearer(token)).await
}

fn token(sub: &str, scope: &str, exp: u64) -> String {
    hs256(&format!(
        r#"{{"sub":"{sub}","exp":{exp},"scope":"{scope}"}}"#
    ))
}

#[tokio::test]
async fn order_token_is_checked_first() {
    // Expired, unknown user, no scope: the token is refused first.
    let r = ordered(Style::Standards, &token("mallory", "", NOW - 3600)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error.unwrap().description(), "The access token expired");
}

#[tokio::test]
async fn order_unknown_user_before_scopes() {
    let r = ordered(Style::Standards, &token("mallory", "", EXP)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), Some(AuthErrorKind::InvalidToken));
    assert_eq!(r.error.unwrap().description(), "Unknown user");
}

#[tokio::test]
async fn order_scopes_before_active() {
    let r = ordered(Style::Standards, &token("alice", "", EXP)).await;
    assert_insufficient(&r, "me");
}

#[tokio::test]
async fn order_active_last() {
    let r = ordered(Style::Standards, &token("alice", "me", EXP)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), Some(AuthErrorKind::InactiveUser));
    assert_eq!(
        r.challenge(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="Inactive user", scope="me""#
        )
    );
}

#[tokio::test]
async fn order_all_checks_pass() {
    let r = ordered(Style::Standards, &token("johndoe", "me", EXP)).await;
    assert_ok(&r);
}

#[tokio::test]
async fn order_fastapi_unknown_user_before_scopes() {
    let r = ordered(Style::FastApi, &token("mallory", "", EXP)).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some(r#"Bearer scope="me""#),
    );
}

#[tokio::test]
async fn order_fastapi_scopes_before_active() {
    let r = ordered(Style::FastApi, &token("alice", "", EXP)).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Not enough permissions",
        Some(r#"Bearer scope="me""#),
    );
}

#[tokio::test]
async fn order_fastapi_inactive_user_with_the_scope_is_400() {
    let r = ordered(Style::FastApi, &token("alice", "me", EXP)).await;
    assert_fastapi(&r, StatusCode::BAD_REQUEST, "Inactive user", None);
}

#[tokio::test]
async fn optional_mode_does_not_skip_required_scopes() {
    // Leaving the token out must not be a way around the scope check.
    let layer = scoped().optional();
    let r = send(&layer, request()).await;
    assert_missing(&r);
    // A token with the scope still passes.
    assert_ok(&send(&layer, with_bearer(&scope_token("me"))).await);
}

#[tokio::test]
async fn optional_mode_without_scopes_lets_anonymous_requests_through() {
    let r = send(&layer().optional(), request()).await;
    assert_ok(&r);
}
