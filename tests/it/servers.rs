//! The layer on real servers over loopback HTTP: a plain hyper 1 server
//! (`TowerToHyperService`), a proxy whose responses are hyper `Incoming` bodies,
//! and an axum `Router` (`Router::layer` and `route_layer`). Each server binds
//! `127.0.0.1:0` before it is spawned, is called with the hyper-util legacy
//! client, and is shut down through a oneshot channel.

use std::convert::Infallible;
use std::net::SocketAddr;

use crate::common::*;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::{service_fn, ServiceBuilder};
use tower_jwt_auth::{AuthError, Claims, Style};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running server.
struct Server {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Signals shutdown and waits for the server task to end (it drops the
    /// listener as it does).
    async fn stop(self) {
        self.shutdown.send(()).expect("server still running");
        self.task.await.expect("server task");
    }
}

/// Serves `svc` with hyper 1 on `127.0.0.1:0`.
async fn serve_hyper<S, B>(svc: S) -> Server
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, mut stop) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => {
                    let (stream, _) = accepted.expect("accept");
                    let svc = TowerToHyperService::new(svc.clone());
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        }
    });
    Server {
        addr,
        shutdown,
        task,
    }
}

/// Serves an axum router on `127.0.0.1:0`, with graceful shutdown.
async fn serve_axum(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
            .expect("axum serve");
    });
    Server {
        addr,
        shutdown,
        task,
    }
}

/// A response read off the wire.
#[derive(Debug)]
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn challenge(&self) -> Option<&str> {
        self.headers
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap())
    }
}

/// `GET http://addr/path` with one `Authorization` line per entry of `auth`,
/// on a fresh client (dropped before returning, so no connection lingers).
async fn get_with(addr: SocketAddr, path: &str, auth: &[&str]) -> Got {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .unwrap();
    for a in auth {
        req.headers_mut().append(AUTHORIZATION, a.parse().unwrap());
    }
    let res = client.request(req).await.expect("HTTP response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get_bearer(addr: SocketAddr, path: &str, token: &str) -> Got {
    get_with(addr, path, &[&format!("Bearer {token}")]).await
}

#[track_caller]
fn assert_wire_missing(g: &Got) {
    assert_eq!(g.status, StatusCode::UNAUTHORIZED, "{g:?}");
    assert_eq!(g.challenge(), Some(r#"Bearer realm="api""#));
    assert_eq!(g.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        g.body,
        r#"{"error":"unauthorized","error_description":"No bearer token"}"#
    );
    // The rejection body's exact size hint becomes a Content-Length.
    assert_eq!(g.headers[CONTENT_LENGTH], g.body.len().to_string().as_str());
}

// === plain hyper 1 =========================================================================

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.extensions().get::<Claims>() {
        Some(c) => format!("hello {}", c.sub().unwrap_or_default()),
        None => "hello anonymous".to_owned(),
    };
    Ok(Response::new(Full::from(body)))
}

#[tokio::test]
async fn hyper_valid_token_reaches_the_handler() {
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    let got = get_bearer(server.addr, "/me", &valid_token()).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, "hello johndoe");
    assert!(got.challenge().is_none());
    server.stop().await;
}

#[tokio::test]
async fn hyper_no_token_is_401_with_challenge() {
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    assert_wire_missing(&get_with(server.addr, "/me", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn hyper_bad_token_is_401_invalid_token() {
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    let got = get_bearer(server.addr, "/me", "not.a.jwt").await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        got.challenge(),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="Malformed token""#)
    );
    server.stop().await;
}

#[tokio::test]
async fn hyper_lowercase_scheme_and_extra_spaces_over_the_wire() {
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    let got = get_with(
        server.addr,
        "/me",
        &[&format!("bearer    {}", valid_token())],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, "hello johndoe");
    server.stop().await;
}

#[tokio::test]
async fn hyper_two_authorization_lines_over_the_wire_are_400() {
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    let v = format!("Bearer {}", valid_token());
    let got = get_with(server.addr, "/me", &[&v, &v]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST, "{got:?}");
    assert_eq!(
        got.challenge(),
        Some(
            r#"Bearer realm="api", error="invalid_request", error_description="Several Authorization header fields""#
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn hyper_empty_bearer_over_the_wire_is_400() {
    // hyper trims the trailing space of the field value: `Bearer` remains.
    let server = serve_hyper(ServiceBuilder::new().layer(layer()).service_fn(hello)).await;
    let got = get_with(server.addr, "/me", &["Bearer "]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST, "{got:?}");
    server.stop().await;
}

#[tokio::test]
async fn hyper_fastapi_style_over_the_wire() {
    let layer = layer().style(Style::FastApi);
    let server = serve_hyper(ServiceBuilder::new().layer(layer).service_fn(hello)).await;
    let got = get_with(server.addr, "/me", &[]).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.body, r#"{"detail":"Not authenticated"}"#);
    assert_eq!(got.challenge(), Some("Bearer"));
    let got = get_bearer(server.addr, "/me", "not.a.jwt").await;
    assert_eq!(got.body, r#"{"detail":"Could not validate credentials"}"#);
    assert_eq!(got.challenge(), Some("Bearer"));
    server.stop().await;
}

#[tokio::test]
async fn hyper_async_resolver_over_the_wire() {
    #[derive(Clone)]
    struct User(String);
    let layer = layer().resolve_user(|c: &Claims| {
        let sub = c.sub().unwrap_or_default().to_owned();
        async move {
            tokio::task::yield_now().await;
            match sub.as_str() {
                "johndoe" => Ok(User("John Doe".into())),
                _ => Err(AuthError::unknown_user()),
            }
        }
    });
    let handler = service_fn(|req: Request<Incoming>| async move {
        let user = req.extensions().get::<User>().expect("user").0.clone();
        Ok::<_, Infallible>(Response::new(Full::from(user)))
    });
    let server = serve_hyper(ServiceBuilder::new().layer(layer).service(handler)).await;
    let got = get_bearer(server.addr, "/me", &valid_token()).await;
    assert_eq!(got.body, "John Doe");
    let other = hs256(&format!(r#"{{"sub":"mallory","exp":{EXP}}}"#));
    let got = get_bearer(server.addr, "/me", &other).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        got.challenge(),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="Unknown user""#)
    );
    server.stop().await;
}

#[tokio::test]
async fn hyper_proxy_with_incoming_response_bodies() {
    // The backend: a plain server. The front: the layer around a handler that
    // forwards to the backend and returns its `Response<Incoming>`, a body type
    // that is not `Default`.
    let backend = serve_hyper(service_fn(|req: Request<Incoming>| async move {
        let body = format!("backend saw {}", req.uri().path());
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
    }))
    .await;
    let backend_addr = backend.addr;
    let proxy = service_fn(move |req: Request<Incoming>| async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let forwarded = Request::get(format!("http://{backend_addr}{}", req.uri().path()))
            .body(Full::default())
            .unwrap();
        client.request(forwarded).await
    });
    let front = serve_hyper(ServiceBuilder::new().layer(layer()).service(proxy)).await;

    let got = get_bearer(front.addr, "/items", &valid_token()).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, "backend saw /items");
    assert_wire_missing(&get_with(front.addr, "/items", &[]).await);

    front.stop().await;
    backend.stop().await;
}

// === axum ===================================================================================

async fn me(Extension(claims): Extension<Claims>) -> String {
    format!("hello {}", claims.sub().unwrap_or_default())
}

async fn maybe_me(claims: Option<Extension<Claims>>) -> String {
    match claims {
        Some(Extension(c)) => format!("hello {}", c.sub().unwrap_or_default()),
        None => "hello anonymous".to_owned(),
    }
}

async fn public() -> &'static str {
    "public"
}

#[tokio::test]
async fn axum_router_layer_valid_token_reaches_the_handler() {
    let app = Router::new().route("/me", get(me)).layer(layer());
    let server = serve_axum(app).await;
    let got = get_bearer(server.addr, "/me", &valid_token()).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, "hello johndoe");
    server.stop().await;
}

#[tokio::test]
async fn axum_router_layer_no_token_is_401_with_challenge() {
    let app = Router::new().route("/me", get(me)).layer(layer());
    let server = serve_axum(app).await;
    assert_wire_missing(&get_with(server.addr, "/me", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn axum_router_layer_guards_the_fallback_too() {
    let app = Router::new().route("/me", get(me)).layer(layer());
    let server = serve_axum(app).await;
    assert_wire_missing(&get_with(server.addr, "/nope", &[]).await);
    let got = get_bearer(server.addr, "/nope", &valid_token()).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn axum_route_layer_guards_only_the_routes_before_it() {
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(layer())
        .route("/public", get(public));
    let server = serve_axum(app).await;
    assert_wire_missing(&get_with(server.addr, "/me", &[]).await);
    let got = get_bearer(server.addr, "/me", &valid_token()).await;
    assert_eq!(got.body, "hello johndoe");
    let got = get_with(server.addr, "/public", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, "public");
    // Unmatched paths are not run through a route layer: 404, not 401.
    let got = get_with(server.addr, "/nope", &[]).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn axum_scoped_route_in_fastapi_style() {
    let items = Router::new().route("/items", get(me)).route_layer(
        layer()
            .style(Style::FastApi)
            .require_scopes(["items"])
            .unwrap(),
    );
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(layer().style(Style::FastApi))
        .merge(items);
    let server = serve_axum(app).await;
    let plain = valid_token();
    assert_eq!(
        get_bearer(server.addr, "/me", &plain).await.status,
        StatusCode::OK
    );
    let got = get_bearer(server.addr, "/items", &plain).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.body, r#"{"detail":"Not enough permissions"}"#);
    assert_eq!(got.challenge(), Some(r#"Bearer scope="items""#));
    let scoped = hs256(&payload_with(r#""scope":"items""#));
    let got = get_bearer(server.addr, "/items", &scoped).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    server.stop().await;
}

#[tokio::test]
async fn axum_optional_mode_over_the_wire() {
    let app = Router::new()
        .route("/maybe", get(maybe_me))
        .layer(layer().optional());
    let server = serve_axum(app).await;
    let got = get_with(server.addr, "/maybe", &[]).await;
    assert_eq!(got.body, "hello anonymous");
    let got = get_bearer(server.addr, "/maybe", &valid_token()).await;
    assert_eq!(got.body, "hello johndoe");
    let got = get_bearer(server.addr, "/maybe", "not.a.jwt").await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn axum_async_resolver_user_extension() {
    #[derive(Clone)]
    struct User {
        name: String,
    }
    async fn whoami(Extension(user): Extension<User>) -> String {
        user.name
    }
    let layer = layer().resolve_user(|c: &Claims| {
        let sub = c.sub().unwrap_or_default().to_owned();
        async move {
            tokio::task::yield_now().await;
            Ok::<_, AuthError>(User { name: sub })
        }
    });
    let app = Router::new().route("/whoami", get(whoami)).layer(layer);
    let server = serve_axum(app).await;
    let got = get_bearer(server.addr, "/whoami", &valid_token()).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, "johndoe");
    server.stop().await;
}
