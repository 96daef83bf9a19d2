//! The token endpoint mounted in an axum `Router`, served by axum with
//! `ConnectInfo`, next to an `AuthLayer`-protected route.
#![cfg(feature = "token")]

use std::net::SocketAddr;
use std::time::Duration;

use crate::token_common::*;
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::StatusCode;
use tower_jwt_auth::token::{Throttle, UserProfile};
use tower_jwt_auth::AuthLayer;

async fn serve_axum(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

async fn post(base: &str, body: String) -> Answer {
    let req = http::Request::post(format!("{base}/token"))
        .header("content-type", FORM)
        .body(full(body))
        .unwrap();
    send(req).await
}

fn login_form(user: &str, password: &str) -> String {
    form(&[
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
    ])
}

#[tokio::test]
async fn axum_router_serves_the_endpoint_and_the_protected_route() {
    let endpoint = builder(store())
        .throttle(
            Throttle::disabled()
                .per_ip(2, Duration::from_secs(3600))
                .unwrap(),
        )
        // axum's ConnectInfo, not a bare SocketAddr.
        .client_ip(|parts| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .build();
    let layer = AuthLayer::new(validator())
        .resolve_user(endpoint.resolver())
        .require_active(|u: &UserProfile| !u.disabled);
    let app = Router::new()
        .route(
            "/users/me",
            get(|Extension(user): Extension<UserProfile>| async move { Json(user) }).layer(layer),
        )
        .route_service("/token", endpoint);
    let base = serve_axum(app).await;

    let token = post(&base, login_form("johndoe", "secret")).await.token();
    let req = http::Request::get(format!("{base}/users/me"))
        .header("authorization", format!("Bearer {token}"))
        .body(full(bytes::Bytes::new()))
        .unwrap();
    let me = send(req).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body,
        r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#
    );

    // The per-IP throttle sees the client address through the hook.
    for user in ["a", "b"] {
        post(&base, login_form(user, "x"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    post(&base, login_form("johndoe", "secret"))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
}
