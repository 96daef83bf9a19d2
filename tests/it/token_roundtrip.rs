//! Token endpoint → AuthLayer (StoreResolver + require_active) → handler, over
//! real loopback HTTP.
#![cfg(feature = "token")]

use std::convert::Infallible;

use crate::token_common::*;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::ServiceBuilder;
use tower_jwt_auth::token::{MemoryStore, StoreResolver, TokenEndpoint, UserProfile, UserStore};
use tower_jwt_auth::{AuthLayer, Claims, Style};

/// `GET /users/me`: the resolved profile as JSON (FastAPI's `read_users_me`).
async fn users_me(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = req
        .extensions()
        .get::<UserProfile>()
        .expect("set by AuthLayer");
    let claims = req.extensions().get::<Claims>().expect("set by AuthLayer");
    assert_eq!(claims.sub(), Some(user.username.as_str()));
    Ok(Response::new(Full::from(serde_json::to_vec(user).unwrap())))
}

/// The tutorial app: `/token` and `/users/me` (active users only), plus
/// `/items` (scope `items`), on one server, sharing the store.
async fn app<S>(endpoint: TokenEndpoint<S>, style: Style) -> TestServer
where
    S: UserStore<Profile = UserProfile>,
{
    let base = AuthLayer::new(validator())
        .style(style)
        .resolve_user(endpoint.resolver())
        .require_active(|u: &UserProfile| !u.disabled);
    let me = ServiceBuilder::new()
        .layer(base.clone())
        .service_fn(users_me);
    let items = ServiceBuilder::new()
        .layer(base.require_scopes(["items"]).unwrap())
        .service_fn(users_me);
    serve(router(vec![
        ("/token", boxed(endpoint)),
        ("/users/me", boxed(me)),
        ("/items", boxed(items)),
    ]))
    .await
}

#[tokio::test]
async fn token_from_the_endpoint_lets_the_handler_see_the_user() {
    let server = app(builder(store()).build(), Style::Standards).await;
    let token = login(&server, "johndoe", "secret").await.token();
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.body,
        r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#
    );
}

#[tokio::test]
async fn without_a_token_the_layer_refuses() {
    let server = app(builder(store()).build(), Style::Standards).await;
    let req = Request::get(server.url("/users/me"))
        .body(full(Bytes::new()))
        .unwrap();
    assert_eq!(send(req).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_disabled_after_login_is_refused_by_the_layer() {
    let store = store();
    let server = app(builder(store.clone()).build(), Style::Standards).await;
    let token = login(&server, "johndoe", "secret").await.token();
    assert_eq!(
        get_with_token(&server, "/users/me", &token).await.status,
        StatusCode::OK
    );

    store.update("johndoe", |u| u.set_profile_disabled(true));
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error_description"], "Inactive user");
    assert!(answer
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn fastapi_style_disabled_user_gets_400_inactive_user() {
    // FastAPI's /token does not look at `disabled`; /users/me answers 400.
    let endpoint = builder(store())
        .style(Style::FastApi)
        .check_disabled(false)
        .build();
    let server = app(endpoint, Style::FastApi).await;
    let token = login(&server, "bob", "builder").await.token();
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body, r#"{"detail":"Inactive user"}"#);
}

#[tokio::test]
async fn a_deleted_user_is_refused_at_once() {
    let store = store();
    let server = app(builder(store.clone()).build(), Style::Standards).await;
    let token = login(&server, "johndoe", "secret").await.token();
    store.remove("johndoe");
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "invalid_token");
    assert_eq!(answer.json()["error_description"], "Unknown user");
}

#[tokio::test]
async fn refuse_disabled_refuses_at_resolution_before_the_scope_check() {
    let store = store();
    let endpoint = builder(store.clone()).check_disabled(false).build();
    let items = ServiceBuilder::new()
        .layer(
            AuthLayer::new(validator())
                .resolve_user(StoreResolver::new(store.clone()).refuse_disabled())
                .require_scopes(["items"])
                .unwrap(),
        )
        .service_fn(users_me);
    let server = serve(router(vec![
        ("/token", boxed(endpoint)),
        ("/items", boxed(items)),
    ]))
    .await;
    // bob is disabled and has no `items` scope: resolution refuses first.
    let token = login(&server, "bob", "builder").await.token();
    let answer = get_with_token(&server, "/items", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error_description"], "Inactive user");
}

#[tokio::test]
async fn without_refuse_disabled_the_scope_check_comes_first() {
    // FastAPI's order: scopes (get_current_user), then active.
    let server = app(
        builder(store()).check_disabled(false).build(),
        Style::Standards,
    )
    .await;
    let token = login(&server, "bob", "builder").await.token();
    let answer = get_with_token(&server, "/items", &token).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["error"], "insufficient_scope");
}

#[tokio::test]
async fn granted_scopes_open_scoped_routes() {
    let server = app(builder(store()).build(), Style::Standards).await;
    let with = post_form(
        &server,
        form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "me items"),
        ]),
    )
    .await
    .token();
    assert_eq!(
        get_with_token(&server, "/items", &with).await.status,
        StatusCode::OK
    );
    let without = login(&server, "alice", "wonderland").await.token();
    assert_eq!(
        get_with_token(&server, "/items", &without).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_async_store_resolves_through_the_layers_async_path() {
    let store = Counting::new(store());
    let server = app(builder(store.clone()).build(), Style::Standards).await;
    let token = login(&server, "johndoe", "secret").await.token();
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["username"], "johndoe");
    // One lookup at login, one at resolution.
    assert_eq!(store.finds(), 2);
}

#[tokio::test]
async fn a_failing_store_makes_the_layer_answer_503() {
    let broken = Counting::failing(MemoryStore::new());
    let endpoint = builder(store()).build();
    let token = {
        let server = serve_endpoint(endpoint).await;
        login(&server, "johndoe", "secret").await.token()
    };
    let me = ServiceBuilder::new()
        .layer(AuthLayer::new(validator()).resolve_user(StoreResolver::new(broken)))
        .service_fn(users_me);
    let server = serve(router(vec![("/users/me", boxed(me))])).await;
    let answer = get_with_token(&server, "/users/me", &token).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn fastapi_tutorial_flow() {
    let endpoint = builder(store())
        .style(Style::FastApi)
        .check_disabled(false)
        .build();
    let server = app(endpoint, Style::FastApi).await;

    let bad = login(&server, "johndoe", "nope").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.header("www-authenticate"), Some("Bearer"));
    assert_eq!(bad.body, r#"{"detail":"Incorrect username or password"}"#);

    let ok = post_form(&server, "username=johndoe&password=secret").await;
    assert_eq!(ok.json().as_object().unwrap().len(), 2);
    let me = get_with_token(&server, "/users/me", &ok.token()).await;
    assert_eq!(
        me.body,
        r#"{"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}"#
    );

    let garbage = get_with_token(&server, "/users/me", "not.a.token").await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        garbage.body,
        r#"{"detail":"Could not validate credentials"}"#
    );
}
