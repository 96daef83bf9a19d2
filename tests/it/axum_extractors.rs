//! The axum extractors, scopes per handler and per route, in both styles.
#![cfg(feature = "axum")]

use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::ServiceExt;
use tower_jwt_auth::axum::{AuthClaims, AuthRejection, CurrentUser, ScopeList, Scoped};
use tower_jwt_auth::scopes::RequireScopesLayer;
use tower_jwt_auth::{
    resolve_sync, sign_hs256, AuthError, AuthErrorKind, AuthLayer, Claims, JwtValidator, Style,
};

const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
const FAR: i64 = 4_000_000_000;

fn token(sub: &str, scope: Option<&str>) -> String {
    let mut c = Claims::new(sub).with_exp(FAR);
    if let Some(s) = scope {
        c = c.with_scope(s);
    }
    sign_hs256(SECRET, &c).unwrap()
}

fn layer() -> AuthLayer {
    AuthLayer::new(JwtValidator::hs256(SECRET).unwrap())
}

async fn send(app: &Router, uri: &str, bearer: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(uri);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn challenge(h: &HeaderMap) -> &str {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("<none>")
}

async fn whoami(AuthClaims(c): AuthClaims) -> String {
    c.sub().unwrap_or_default().to_owned()
}

#[derive(Clone, Debug, PartialEq)]
struct User {
    name: String,
    admin: bool,
}

#[test]
fn layer_fits_router_layer_and_route_layer() {
    // Compile-time: Router::layer, Router::route_layer, MethodRouter::layer.
    let _: Router = Router::new()
        .route("/a", get(whoami).layer(layer()))
        .route_layer(layer().require_scopes(["me"]).unwrap())
        .layer(layer().optional())
        .layer(RequireScopesLayer::new(["x"]).unwrap());
}

#[tokio::test]
async fn current_user_gets_the_resolved_user() {
    async fn me(CurrentUser(user): CurrentUser<User>) -> String {
        format!("{} admin={}", user.name, user.admin)
    }
    let auth = layer().resolve_user(resolve_sync(|c: &Claims| {
        Ok::<_, AuthError>(User {
            name: c.sub().unwrap_or_default().to_owned(),
            admin: false,
        })
    }));
    let app = Router::new().route("/me", get(me)).layer(auth);
    let (status, _, body) = send(&app, "/me", Some(&token("johndoe", None))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "johndoe admin=false");
}

#[tokio::test]
async fn claims_and_user_are_both_extractable_with_a_resolver() {
    async fn both(AuthClaims(c): AuthClaims, CurrentUser(u): CurrentUser<User>) -> String {
        format!("{}/{}", c.sub().unwrap_or_default(), u.name)
    }
    let auth = layer().resolve_user(resolve_sync(|c: &Claims| {
        Ok::<_, AuthError>(User {
            name: c.sub().unwrap_or_default().to_uppercase(),
            admin: true,
        })
    }));
    let app = Router::new().route("/", get(both)).layer(auth);
    let (status, _, body) = send(&app, "/", Some(&token("ann", None))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ann/ANN"));
}

#[tokio::test]
async fn custom_claims_type() {
    #[derive(Clone, Deserialize)]
    struct MyClaims {
        sub: String,
        tenant: Option<String>,
    }
    async fn h(AuthClaims(c): AuthClaims<MyClaims>) -> String {
        format!("{}@{}", c.sub, c.tenant.unwrap_or_default())
    }
    let app = Router::new()
        .route("/", get(h))
        .layer(layer().with_claims::<MyClaims>());
    #[derive(serde::Serialize)]
    struct Out<'a> {
        sub: &'a str,
        exp: i64,
        tenant: &'a str,
    }
    let t = sign_hs256(
        SECRET,
        &Out {
            sub: "bob",
            exp: FAR,
            tenant: "acme",
        },
    )
    .unwrap();
    let (status, _, body) = send(&app, "/", Some(&t)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "bob@acme"));
}

#[tokio::test]
async fn missing_layer_is_401_not_authenticated_standards() {
    let app = Router::new().route("/me", get(whoami));
    let (status, h, body) = send(&app, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer realm="api""#);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        body,
        r#"{"error":"unauthorized","error_description":"No bearer token"}"#
    );
}

#[tokio::test]
async fn missing_layer_with_a_token_is_flagged_as_misconfiguration() {
    async fn h(r: Result<AuthClaims, AuthRejection>) -> String {
        let e = r.unwrap_err();
        format!(
            "{} {} {} {}",
            e.status().as_u16(),
            e.is_misconfiguration(),
            e.error().kind().as_str(),
            std::error::Error::source(&e).is_some(),
        )
    }
    let app = Router::new().route("/", get(h));
    let (_, _, body) = send(&app, "/", Some(&token("x", None))).await;
    assert_eq!(body, "401 true missing true");
    let (_, _, body) = send(&app, "/", None).await;
    assert_eq!(body, "401 false missing true");
}

#[tokio::test]
async fn wrong_user_type_is_401_not_500() {
    // The layer resolves `Claims`; the handler asks for `User`.
    async fn h(CurrentUser(_): CurrentUser<User>) -> &'static str {
        "unreachable"
    }
    let app = Router::new().route("/", get(h)).layer(layer());
    let (status, h, _) = send(&app, "/", Some(&token("x", None))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer realm="api""#);
}

#[tokio::test]
async fn extractor_rejection_follows_the_rejection_in_the_extensions() {
    let auth = layer().style(Style::FastApi);
    let app = Router::new()
        .route("/me", get(whoami))
        .layer(Extension(auth.rejection().clone()));
    let (status, h, body) = send(&app, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), "Bearer");
    assert_eq!(body, r#"{"detail":"Not authenticated"}"#);
}

#[tokio::test]
async fn extractor_rejection_of_a_grpc_request_is_grpc() {
    let app = Router::new().route("/pkg.Svc/Method", get(whoami));
    let req = Request::get("/pkg.Svc/Method")
        .header("content-type", "application/grpc")
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
    assert_eq!(res.headers()["grpc-message"], "No bearer token");
}

#[tokio::test]
async fn option_extractors_with_an_optional_layer() {
    async fn hello(u: Option<CurrentUser<Claims>>, c: Option<AuthClaims>) -> String {
        match (u, c) {
            (Some(CurrentUser(u)), Some(_)) => format!("hello {}", u.sub().unwrap_or_default()),
            (None, None) => "hello stranger".into(),
            _ => "mixed".into(),
        }
    }
    let app = Router::new()
        .route("/", get(hello))
        .layer(layer().optional());
    let (status, _, body) = send(&app, "/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello stranger"));
    let (status, _, body) = send(&app, "/", Some(&token("ann", None))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello ann"));
    // A bad token is still refused by the layer.
    let (status, h, _) = send(&app, "/", Some("not.a.token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&h).contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn non_option_extractor_behind_an_optional_layer_is_401() {
    let app = Router::new()
        .route("/", get(whoami))
        .layer(layer().optional());
    let (status, h, _) = send(&app, "/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer realm="api""#);
}

struct ItemsMe;
impl ScopeList for ItemsMe {
    const SCOPES: &'static [&'static str] = &["items", "me"];
}

async fn items(Scoped { claims, .. }: Scoped<ItemsMe>) -> Json<Vec<String>> {
    Json(vec![claims.sub().unwrap_or_default().to_owned()])
}

#[tokio::test]
async fn scoped_extractor_standards() {
    let app = Router::new().route("/items", get(items)).layer(layer());
    let (status, _, body) = send(&app, "/items", Some(&token("jo", Some("me items")))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"["jo"]"#));

    let (status, h, body) = send(&app, "/items", Some(&token("jo", Some("me")))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&h),
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="items me""#
    );
    assert_eq!(
        body,
        r#"{"error":"insufficient_scope","error_description":"The access token lacks a required scope"}"#
    );
    // Case-sensitive.
    let (status, _, _) = send(&app, "/items", Some(&token("jo", Some("ME ITEMS")))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn scoped_extractor_fastapi() {
    let auth = layer().style(Style::FastApi);
    let app = Router::new()
        .route("/items", get(items))
        .layer(Extension(auth.rejection().clone()))
        .layer(auth);
    let (status, h, body) = send(&app, "/items", Some(&token("jo", Some("items")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer scope="items me""#);
    assert_eq!(body, r#"{"detail":"Not enough permissions"}"#);
}

#[tokio::test]
async fn require_scopes_per_route_fastapi() {
    let auth = layer().style(Style::FastApi);
    let app = Router::new()
        .route(
            "/items",
            get(whoami).layer(auth.clone().require_scopes(["items", "me"]).unwrap()),
        )
        .route("/status", get(|| async { "ok" }).layer(auth));
    let (status, h, body) = send(&app, "/items", Some(&token("jo", Some("me")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer scope="items me""#);
    assert_eq!(body, r#"{"detail":"Not enough permissions"}"#);
    let (status, h, body) = send(&app, "/items", Some("x.y.z")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer scope="items me""#);
    assert_eq!(body, r#"{"detail":"Could not validate credentials"}"#);
    let (status, h, body) = send(&app, "/items", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), "Bearer");
    assert_eq!(body, r#"{"detail":"Not authenticated"}"#);
    let (status, _, body) = send(&app, "/status", Some(&token("jo", None))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn require_scopes_layer_as_route_layer() {
    let auth = layer().style(Style::FastApi);
    let scopes = RequireScopesLayer::new(["admin"])
        .unwrap()
        .rejection(auth.rejection().clone());
    let app = Router::new()
        .route("/admin", get(whoami))
        .route_layer(scopes)
        .layer(auth);
    let (status, h, body) = send(&app, "/admin", Some(&token("jo", Some("me")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&h), r#"Bearer scope="admin""#);
    assert_eq!(body, r#"{"detail":"Not enough permissions"}"#);
    let (status, _, body) = send(&app, "/admin", Some(&token("jo", Some("admin")))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "jo"));
}

#[tokio::test]
async fn rejection_error_is_in_the_response_extensions() {
    let app = Router::new().route("/items", get(items)).layer(layer());
    let req = Request::get("/items")
        .header("authorization", format!("Bearer {}", token("jo", None)))
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let err = res.extensions().get::<AuthError>().unwrap();
    assert_eq!(err.kind(), AuthErrorKind::InsufficientScope);
    assert_eq!(err.scope(), Some("items me"));
}
