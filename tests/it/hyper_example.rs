//! `examples/hyper.rs` on a real socket, with a real hyper client.

#[path = "../../examples/hyper.rs"]
#[allow(dead_code)]
mod example;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_jwt_auth::{sign_hs256, Claims, Style};

struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(style: Style) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            example::serve(listener, style, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            stop: Some(stop),
            task,
        }
    }

    async fn get(&self, path: &str, auth: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut req = Request::get(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = client
            .request(req.body(Empty::new()).unwrap())
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

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

fn www(h: &HeaderMap) -> &str {
    h["www-authenticate"].to_str().unwrap()
}

#[tokio::test]
async fn no_token_is_401_with_challenge() {
    let server = Server::start(Style::Standards).await;
    let (status, h, body) = server.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www(&h), r#"Bearer realm="api""#);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        body,
        r#"{"error":"unauthorized","error_description":"No bearer token"}"#
    );
    server.stop().await;
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_claims() {
    let server = Server::start(Style::Standards).await;
    let token = example::token_for("johndoe", Some("me items")).unwrap();
    let (status, h, body) = server.get("/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(body, r#"{"scopes":["me","items"],"sub":"johndoe"}"#);
    // Unknown paths are 404 once authenticated.
    let (status, _, _) = server.get("/nope", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn bad_and_expired_tokens_are_401_invalid_token() {
    let server = Server::start(Style::Standards).await;
    let (status, h, body) = server.get("/me", Some("Bearer a.b.c")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www(&h).starts_with(r#"Bearer realm="api", error="invalid_token""#));
    assert!(body.starts_with(r#"{"error":"invalid_token""#));

    let expired = sign_hs256(example::SECRET, &Claims::new("johndoe").with_exp(1)).unwrap();
    let (status, h, _) = server.get("/me", Some(&format!("Bearer {expired}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        www(&h),
        r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#
    );

    let other = sign_hs256([7u8; 32], &Claims::new("johndoe").with_exp(4_000_000_000)).unwrap();
    let (status, h, _) = server.get("/me", Some(&format!("Bearer {other}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www(&h).contains(r#"error_description="Invalid signature""#));
    server.stop().await;
}

#[tokio::test]
async fn malformed_header_is_400_invalid_request() {
    let server = Server::start(Style::Standards).await;
    let (status, h, _) = server.get("/me", Some("Bearer")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(www(&h).contains(r#"error="invalid_request""#));
    server.stop().await;
}

#[tokio::test]
async fn fastapi_style() {
    let server = Server::start(Style::FastApi).await;
    let (status, h, body) = server.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www(&h), "Bearer");
    assert_eq!(body, r#"{"detail":"Not authenticated"}"#);
    let (status, h, body) = server.get("/me", Some("Bearer a.b.c")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www(&h), "Bearer");
    assert_eq!(body, r#"{"detail":"Could not validate credentials"}"#);
    server.stop().await;
}
