//! Resolving the user from the claims (issue 2, items 4 and 5).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::*;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::StatusCode;
use serde::Deserialize;
use tower_jwt_auth::{resolve_sync, AuthError, AuthErrorKind, Claims, Style};

#[derive(Clone, Debug, PartialEq)]
struct User {
    name: String,
    disabled: bool,
}

/// The FastAPI tutorial's fake database: johndoe is active, alice disabled.
fn lookup(name: &str) -> Option<User> {
    match name {
        "johndoe" | "alice" => Some(User {
            name: name.to_owned(),
            disabled: name == "alice",
        }),
        _ => None,
    }
}

fn token_for(sub: &str) -> String {
    hs256(&format!(r#"{{"sub":"{sub}","exp":{EXP}}}"#))
}

/// An async lookup that really waits once before answering.
async fn find(sub: String) -> Result<User, AuthError> {
    tokio::task::yield_now().await;
    lookup(&sub).ok_or_else(AuthError::unknown_user)
}

/// An async lookup that also refuses disabled users itself.
async fn find_active(sub: String) -> Result<User, AuthError> {
    let user = find(sub).await?;
    if user.disabled {
        return Err(AuthError::inactive_user());
    }
    Ok(user)
}

fn sub_of(c: &Claims) -> String {
    c.sub().unwrap_or_default().to_owned()
}

#[track_caller]
fn assert_inactive_standards(r: &Reply) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(!r.reached());
    assert_eq!(r.kind(), Some(AuthErrorKind::InactiveUser));
    assert_eq!(
        r.challenge(),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="Inactive user""#)
    );
    assert_eq!(
        r.body,
        r#"{"error":"invalid_token","error_description":"Inactive user"}"#
    );
}

// --- async resolver ----------------------------------------------------------

#[tokio::test]
async fn async_resolver_inserts_the_user_beside_the_claims() {
    let layer = layer().resolve_user(|c: &Claims| find(sub_of(c)));
    let r = send(&layer, with_bearer(&token_for("johndoe"))).await;
    assert_ok(&r);
    assert_eq!(r.seen::<User>().unwrap().name, "johndoe");
    assert_eq!(r.seen::<Claims>().unwrap().sub(), Some("johndoe"));
}

#[tokio::test]
async fn async_resolver_unknown_user_is_invalid_token() {
    let layer = layer().resolve_user(|c: &Claims| find(sub_of(c)));
    let r = send(&layer, with_bearer(&token_for("mallory"))).await;
    assert_invalid_token(&r, "Unknown user");
}

#[tokio::test]
async fn async_resolver_unknown_user_fastapi_style() {
    let layer = layer()
        .style(Style::FastApi)
        .resolve_user(|c: &Claims| find(sub_of(c)));
    let r = send(&layer, with_bearer(&token_for("mallory"))).await;
    assert_fastapi(
        &r,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
        Some("Bearer"),
    );
}

#[tokio::test]
async fn async_resolver_inactive_user_standards_style() {
    let layer = layer().resolve_user(|c: &Claims| find_active(sub_of(c)));
    assert_inactive_standards(&send(&layer, with_bearer(&token_for("alice"))).await);
}

#[tokio::test]
async fn async_resolver_inactive_user_fastapi_style_is_400_without_challenge() {
    let layer = layer()
        .style(Style::FastApi)
        .resolve_user(|c: &Claims| find_active(sub_of(c)));
    let r = send(&layer, with_bearer(&token_for("alice"))).await;
    assert_fastapi(&r, StatusCode::BAD_REQUEST, "Inactive user", None);
    assert_eq!(r.kind(), Some(AuthErrorKind::InactiveUser));
}

#[tokio::test]
async fn async_resolver_is_not_called_for_an_invalid_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = layer().resolve_user(move |c: &Claims| {
        counter.fetch_add(1, Ordering::SeqCst);
        find(sub_of(c))
    });
    let expired = hs256(&format!(r#"{{"sub":"johndoe","exp":{}}}"#, NOW - 3600));
    assert_invalid_token(
        &send(&layer, with_bearer(&expired)).await,
        "The access token expired",
    );
    assert_missing(&send(&layer, request()).await);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_ok(&send(&layer, with_bearer(&valid_token())).await);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn async_resolver_unavailable_is_503_without_challenge() {
    let layer = layer().resolve_user(|_: &Claims| async {
        tokio::task::yield_now().await;
        Err::<User, _>(AuthError::unavailable("User store unavailable"))
    });
    let r = send(&layer, with_bearer(&valid_token())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.reached());
    assert_eq!(r.kind(), Some(AuthErrorKind::Unavailable));
    assert!(r.headers.get(WWW_AUTHENTICATE).is_none());
    assert_eq!(r.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        r.body,
        r#"{"error":"temporarily_unavailable","error_description":"User store unavailable"}"#
    );
}

#[tokio::test]
async fn async_resolver_unavailable_fastapi_style() {
    let layer = layer()
        .style(Style::FastApi)
        .resolve_user(|_: &Claims| async {
            Err::<User, _>(AuthError::unavailable("User store unavailable"))
        });
    let r = send(&layer, with_bearer(&valid_token())).await;
    assert_fastapi(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        None,
    );
}

#[tokio::test]
async fn async_resolver_sees_the_custom_claims_type() {
    #[derive(Clone, Deserialize)]
    struct Tenant {
        sub: String,
        tenant: u32,
    }
    let layer = layer().with_claims::<Tenant>().resolve_user(|c: &Tenant| {
        let user = format!("{}@{}", c.sub, c.tenant);
        async move { Ok::<_, AuthError>(user) }
    });
    let token = hs256(&payload_with(r#""tenant":42"#));
    let r = send(&layer, with_bearer(&token)).await;
    assert_ok(&r);
    assert_eq!(r.seen::<String>().as_deref(), Some("johndoe@42"));
    assert!(r.seen::<Tenant>().is_some());
}

#[tokio::test]
async fn optional_mode_without_credentials_skips_the_resolver() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = layer().optional().resolve_user(move |c: &Claims| {
        counter.fetch_add(1, Ordering::SeqCst);
        find(sub_of(c))
    });
    let r = send(&layer, request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.seen::<User>().is_none());
    assert!(r.seen::<Claims>().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let r = send(&layer, with_bearer(&token_for("johndoe"))).await;
    assert_eq!(r.seen::<User>().unwrap().name, "johndoe");
}

#[tokio::test]
async fn optional_mode_still_refuses_an_unknown_user() {
    let layer = layer()
        .optional()
        .resolve_user(|c: &Claims| find(sub_of(c)));
    assert_invalid_token(
        &send(&layer, with_bearer(&token_for("mallory"))).await,
        "Unknown user",
    );
}

// --- synchronous resolver ----------------------------------------------------

#[tokio::test]
async fn sync_resolver_inserts_the_user_beside_the_claims() {
    let layer = layer().resolve_user(resolve_sync(|c: &Claims| {
        lookup(c.sub().unwrap_or_default()).ok_or_else(AuthError::unknown_user)
    }));
    let r = send(&layer, with_bearer(&token_for("johndoe"))).await;
    assert_ok(&r);
    assert_eq!(
        r.seen::<User>(),
        Some(User {
            name: "johndoe".into(),
            disabled: false
        })
    );
    assert_eq!(r.seen::<Claims>().unwrap().sub(), Some("johndoe"));
}

#[tokio::test]
async fn sync_resolver_unknown_user_is_invalid_token() {
    let layer = layer().resolve_user(resolve_sync(|c: &Claims| {
        lookup(c.sub().unwrap_or_default()).ok_or_else(AuthError::unknown_user)
    }));
    assert_invalid_token(
        &send(&layer, with_bearer(&token_for("mallory"))).await,
        "Unknown user",
    );
}

#[tokio::test]
async fn sync_resolver_unavailable_is_503() {
    let layer = layer().resolve_user(resolve_sync(|_: &Claims| {
        Err::<User, _>(AuthError::unavailable("User store unavailable"))
    }));
    let r = send(&layer, with_bearer(&valid_token())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.kind(), Some(AuthErrorKind::Unavailable));
    assert!(r.headers.get(WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn sync_resolver_inactive_user_fastapi_style() {
    let layer =
        layer()
            .style(Style::FastApi)
            .resolve_user(resolve_sync(|c: &Claims| {
                match lookup(c.sub().unwrap_or_default()) {
                    Some(u) if u.disabled => Err(AuthError::inactive_user()),
                    Some(u) => Ok(u),
                    None => Err(AuthError::unknown_user()),
                }
            }));
    let r = send(&layer, with_bearer(&token_for("alice"))).await;
    assert_fastapi(&r, StatusCode::BAD_REQUEST, "Inactive user", None);
}

// --- require_active ------------------------------------------------------------

#[tokio::test]
async fn require_active_refuses_a_disabled_user_standards_style() {
    let layer = layer()
        .resolve_user(|c: &Claims| find(sub_of(c)))
        .require_active(|u: &User| !u.disabled);
    assert_inactive_standards(&send(&layer, with_bearer(&token_for("alice"))).await);
}

#[tokio::test]
async fn require_active_refuses_a_disabled_user_fastapi_style() {
    let layer = layer()
        .style(Style::FastApi)
        .resolve_user(|c: &Claims| find(sub_of(c)))
        .require_active(|u: &User| !u.disabled);
    let r = send(&layer, with_bearer(&token_for("alice"))).await;
    assert_fastapi(&r, StatusCode::BAD_REQUEST, "Inactive user", None);
}

#[tokio::test]
async fn require_active_lets_an_active_user_through() {
    let layer = layer()
        .resolve_user(|c: &Claims| find(sub_of(c)))
        .require_active(|u: &User| !u.disabled);
    let r = send(&layer, with_bearer(&token_for("johndoe"))).await;
    assert_ok(&r);
    assert_eq!(r.seen::<User>().unwrap().name, "johndoe");
}

#[tokio::test]
async fn require_active_with_a_sync_resolver() {
    let layer = layer()
        .resolve_user(resolve_sync(|c: &Claims| {
            lookup(c.sub().unwrap_or_default()).ok_or_else(AuthError::unknown_user)
        }))
        .require_active(|u: &User| !u.disabled);
    assert_inactive_standards(&send(&layer, with_bearer(&token_for("alice"))).await);
    assert_ok(&send(&layer, with_bearer(&token_for("johndoe"))).await);
}

#[tokio::test]
async fn require_active_on_the_claims_as_user() {
    let layer = layer().require_active(|c: &Claims| c.sub() != Some("alice"));
    assert_inactive_standards(&send(&layer, with_bearer(&token_for("alice"))).await);
    assert_ok(&send(&layer, with_bearer(&token_for("johndoe"))).await);
}

#[tokio::test]
async fn unknown_user_is_refused_before_the_active_check() {
    let layer = layer()
        .resolve_user(|c: &Claims| find(sub_of(c)))
        .require_active(|_: &User| false);
    assert_invalid_token(
        &send(&layer, with_bearer(&token_for("mallory"))).await,
        "Unknown user",
    );
}

// --- the default resolver ------------------------------------------------------

#[tokio::test]
async fn default_resolver_inserts_the_claims_once() {
    let r = send_token(&valid_token()).await;
    let seen = r.seen.as_ref().unwrap();
    assert!(seen.get::<Claims>().is_some());
    assert_eq!(seen.len(), 1, "only the claims: the user is the claims");
}
