//! The gateway, run in-process on 127.0.0.1:0 in front of a real upstream
//! that the test starts (and counts the hits of).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tower_jwt_auth::{sign_hs256, Claims};

use jwt_gateway::config::{parse_upstream, Config, Secret};
use jwt_gateway::server::{serve, serve_admin, Gateway};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestBody = UnsyncBoxBody<Bytes, BoxError>;

const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

// ---------------------------------------------------------------------------
// The upstream.

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream saw a request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an upstream on 127.0.0.1:0 that records each request and answers
/// with `handler`.
async fn upstream<F, Fut>(handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (handler, hits, seen) = (handler.clone(), h.clone(), s.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                hits.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push(Seen {
                    method: req.method().clone(),
                    uri: req.uri().clone(),
                    headers: req.headers().clone(),
                });
                let fut = handler(req);
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        hits,
        seen,
        task,
    }
}

/// Answers with the request body, streamed back as it arrives.
async fn echo(req: Request<Incoming>) -> Response<TestBody> {
    Response::new(req.into_body().map_err(Into::into).boxed_unsync())
}

fn text(status: StatusCode, body: &'static str) -> Response<TestBody> {
    let mut res = Response::new(Full::from(body).map_err(Into::into).boxed_unsync());
    *res.status_mut() = status;
    res
}

// ---------------------------------------------------------------------------
// The gateway.

struct Running {
    addr: SocketAddr,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`).
    admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    admin_task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        self.admin_task.abort();
    }
}

/// Settings for a test: a fixed secret, and `upstream` if given.
fn config(upstream: Option<&Upstream>) -> Config {
    Config {
        secret: Secret::new(SECRET.as_bytes()),
        upstream: upstream.map(|u| parse_upstream(&u.url()).unwrap()),
        ..Config::default()
    }
}

/// Binds 127.0.0.1:0, then serves the gateway on it.
async fn start(config: Config) -> Running {
    run(Gateway::new(&config).expect("valid config"), &config).await
}

/// Serves `gateway` on 127.0.0.1:0, with its admin listener on another.
async fn run(gateway: Gateway, config: &Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let admin_task = tokio::spawn(serve_admin(
        gateway.clone(),
        admin_listener,
        std::future::pending(),
    ));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        gateway,
        listener,
        async move {
            let _ = rx.await;
        },
        config.shutdown_timeout,
    ));
    Running {
        addr,
        admin,
        shutdown: Some(tx),
        task,
        admin_task,
    }
}

fn client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A valid token for `sub` with `scope`.
fn token(sub: &str, scope: &str) -> String {
    let mut claims = Claims::new(sub).with_exp(now() + 600);
    if !scope.is_empty() {
        claims = claims.with_scope(scope);
    }
    sign_hs256(SECRET, &claims).unwrap()
}

fn empty() -> TestBody {
    Empty::new().map_err(Into::into).boxed_unsync()
}

fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).map_err(Into::into).boxed_unsync()
}

async fn get(url: &str, bearer: Option<&str>) -> Response<Incoming> {
    let mut req = Request::get(url);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    client().request(req.body(empty()).unwrap()).await.unwrap()
}

async fn body_string(res: Response<Incoming>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

async fn metrics(gw: &Running) -> String {
    body_string(get(&format!("http://{}/metrics", gw.admin), None).await).await
}

// ---------------------------------------------------------------------------
// The README walk-through and the users.

async fn login(gw: &Running, username: &str, password: &str) -> Response<Incoming> {
    let form = format!("grant_type=password&username={username}&password={password}");
    let req = Request::post(gw.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(full(form))
        .unwrap();
    client().request(req).await.unwrap()
}

#[tokio::test]
async fn readme_walkthrough_works_with_no_arguments() {
    // `cargo run -p jwt-gateway`: the defaults, demo users, no upstream.
    let gw = start(Config::default()).await;

    // TOKEN=$(curl -s -X POST localhost:8000/token -d 'grant_type=password&username=johndoe&password=secret' | ...)
    let res = login(&gw, "johndoe", "secret").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    assert_eq!(body["token_type"], "bearer");
    let t = body["access_token"].as_str().unwrap().to_owned();

    // curl -H "Authorization: Bearer $TOKEN" localhost:8000/users/me/
    let res = get(&gw.url("/users/me/"), Some(&t)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    assert_eq!(
        me,
        serde_json::json!({
            "username": "johndoe",
            "email": "johndoe@example.com",
            "full_name": "John Doe",
            "disabled": false,
        })
    );
    let res = get(&gw.url("/users/me/items/"), Some(&t)).await;
    let items: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    assert_eq!(
        items,
        serde_json::json!([{ "item_id": "Foo", "owner": "johndoe" }])
    );

    // curl -i localhost:8000/users/me/
    let res = get(&gw.url("/users/me/"), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);

    // The token endpoint takes POST only.
    let res = get(&gw.url("/token"), None).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);

    let m = metrics(&gw).await;
    assert!(m.contains("gateway_auth_allowed_total 2"), "{m}");
    assert!(
        m.contains(r#"gateway_auth_denied_total{reason="missing"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn disabled_and_unknown_users_are_refused_before_the_upstream() {
    let up = upstream(echo).await;
    let gw = start(config(Some(&up))).await;
    // alice is disabled: no token, with the same answer as a wrong password.
    let res = login(&gw, "alice", "secretalice").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let alice = body_string(res).await;
    let res = login(&gw, "johndoe", "wrong").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(alice, body_string(res).await);
    // A token for alice (signed with the right key) or for nobody is refused.
    let res = get(&gw.url("/"), Some(&token("alice", ""))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(&gw.url("/"), Some(&token("mallory", ""))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(up.hits(), 0);
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"gateway_auth_denied_total{reason="inactive_user"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"gateway_auth_denied_total{reason="invalid_token"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn issued_tokens_carry_issuer_audience_and_granted_scopes() {
    let up = upstream(echo).await;
    let gw = start(Config {
        issuer: Some("https://gateway.test".into()),
        audience: Some("api://test".into()),
        require_scope: vec![("/items".into(), vec!["items".into()])],
        ..config(Some(&up))
    })
    .await;
    let form = "grant_type=password&username=johndoe&password=secret&scope=items%20admin";
    let req = Request::post(gw.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(full(form))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    let t = body["access_token"].as_str().unwrap();
    // `admin` is not one of johndoe's scopes: only `items` is granted.
    assert_eq!(
        get(&gw.url("/items/1"), Some(t)).await.status(),
        StatusCode::OK
    );
    assert_eq!(up.last().headers["x-auth-scopes"], "items");
    // A token without the configured issuer and audience is refused.
    assert_eq!(
        get(&gw.url("/items/1"), Some(&token("johndoe", "items")))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn a_users_file_replaces_the_demo_users() {
    let path = std::env::temp_dir().join(format!("gateway-users-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[carol]\nhashed_password = \"$argon2id$v=19$m=19456,t=2,p=1$2gNcOlYYheITaN2bd/k7PA$gDVQGnJUksXPr6ig1orhlON+Yk6hWTq2tRNXkyS0DAI\"\n",
    )
    .unwrap();
    let gw = start(Config {
        users: Some(path.clone()),
        ..config(None)
    })
    .await;
    assert_eq!(
        login(&gw, "carol", "secretalice").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&gw, "johndoe", "secret").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&gw.url("/users/me/"), Some(&token("johndoe", "")))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = std::fs::remove_file(path);
}

// ---------------------------------------------------------------------------
// Forwarding.

#[tokio::test]
async fn forwards_method_path_query_headers_and_body() {
    let up = upstream(echo).await;
    let gw = start(Config {
        forward_authorization: false,
        ..config(Some(&up))
    })
    .await;
    let t = token("johndoe", "items me");
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let req = Request::builder()
            .method(method.clone())
            .uri(gw.url("/api/items/42?q=a%20b&x=1"))
            .header("authorization", format!("Bearer {t}"))
            .header("x-custom", "kept")
            .header("content-type", "text/plain")
            .body(full(format!("body of {method}")))
            .unwrap();
        let res = client().request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{method}");
        assert_eq!(body_string(res).await, format!("body of {method}"));
        let seen = up.last();
        assert_eq!(seen.method, method);
        assert_eq!(seen.uri.path(), "/api/items/42");
        assert_eq!(seen.uri.query(), Some("q=a%20b&x=1"));
        let h = &seen.headers;
        assert_eq!(h["x-custom"], "kept");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["host"], up.addr.to_string());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], gw.addr.to_string());
        assert_eq!(h["x-auth-subject"], "johndoe");
        assert_eq!(h["x-auth-scopes"], "items me");
        assert!(
            h.get("authorization").is_none(),
            "Authorization is not forwarded by default"
        );
    }
    assert_eq!(up.hits(), 5);
}

#[tokio::test]
async fn forwards_authorization_when_configured_and_keeps_a_base_path() {
    let up = upstream(echo).await;
    let gw = start(Config {
        forward_authorization: true,
        upstream: Some(parse_upstream(&format!("{}/base/", up.url())).unwrap()),
        ..config(None)
    })
    .await;
    let t = token("johndoe", "");
    let res = get(&gw.url("/x?y=1"), Some(&t)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = up.last();
    assert_eq!(seen.uri.path_and_query().unwrap(), "/base/x?y=1");
    assert_eq!(seen.headers["authorization"], format!("Bearer {t}"));
}

#[tokio::test]
async fn mapped_claims_go_upstream_as_headers() {
    let up = upstream(echo).await;
    let gw = start(Config {
        claim_headers: vec![
            ("email".into(), "x-auth-email".parse().unwrap()),
            ("groups".into(), "x-auth-groups".parse().unwrap()),
        ],
        ..config(Some(&up))
    })
    .await;
    let claims = serde_json::json!({
        "sub": "johndoe", "exp": now() + 600,
        "email": "johndoe@example.com", "groups": ["a", "b"],
    });
    let t = sign_hs256(SECRET, &claims).unwrap();
    let req = Request::get(gw.url("/"))
        .header("authorization", format!("Bearer {t}"))
        .header("x-auth-email", "spoofed@example.com")
        .body(empty())
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::OK
    );
    let h = up.last().headers;
    assert_eq!(h["x-auth-email"], "johndoe@example.com");
    assert_eq!(h["x-auth-groups"], "a,b");
    assert_eq!(h.get_all("x-auth-email").iter().count(), 1);
}

/// A body of `len` bytes made on the fly from one static chunk, counting what
/// it has produced.
struct Generated {
    left: u64,
    produced: Arc<AtomicU64>,
}

static CHUNK: [u8; 64 * 1024] = {
    let mut c = [0u8; 64 * 1024];
    let mut i = 0;
    while i < c.len() {
        c[i] = (i % 251) as u8;
        i += 1;
    }
    c
};

impl Body for Generated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len() as u64);
        self.left -= n;
        self.produced.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &CHUNK[..n as usize],
        )))))
    }

    fn size_hint(&self) -> SizeHint {
        // No exact size: sent chunked, so the gateway cannot rely on a length.
        SizeHint::default()
    }
}

#[tokio::test]
async fn streams_64_mib_both_ways_without_buffering() {
    const LEN: u64 = 64 * 1024 * 1024;
    let up = upstream(echo).await;
    let gw = start(Config {
        max_body: 2 * LEN,
        ..config(Some(&up))
    })
    .await;
    let produced = Arc::new(AtomicU64::new(0));
    let body = Generated {
        left: LEN,
        produced: produced.clone(),
    };
    let req = Request::post(gw.url("/upload"))
        .header("authorization", format!("Bearer {}", token("johndoe", "")))
        .body(body.boxed_unsync())
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The echo's response headers came back through the gateway before the
    // request body was all sent: nothing waited for the whole body.
    let at_headers = produced.load(Ordering::SeqCst);
    assert!(
        at_headers < LEN,
        "the response started only after {at_headers} bytes"
    );

    let mut body = res.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            for (i, b) in data.iter().enumerate() {
                let pos = (received + i as u64) % CHUNK.len() as u64;
                assert_eq!(*b, CHUNK[pos as usize], "byte {}", received + i as u64);
            }
            received += data.len() as u64;
        }
    }
    assert_eq!(received, LEN);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn request_bodies_over_the_limit_get_413() {
    // An upstream that reads the whole body before answering.
    let up = upstream(|req: Request<Incoming>| async move {
        match req.into_body().collect().await {
            Ok(_) => text(StatusCode::OK, "read"),
            Err(_) => text(StatusCode::BAD_REQUEST, "cut"),
        }
    })
    .await;
    let gw = start(Config {
        max_body: 1024,
        ..config(Some(&up))
    })
    .await;
    let auth = format!("Bearer {}", token("johndoe", ""));

    // Announced by Content-Length: refused before anything is sent upstream.
    let req = Request::post(gw.url("/"))
        .header("authorization", &auth)
        .body(full(vec![0u8; 2048]))
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(up.hits(), 0);

    // Chunked: cut off at the limit.
    let body = Generated {
        left: 4096,
        produced: Arc::new(AtomicU64::new(0)),
    };
    let req = Request::post(gw.url("/"))
        .header("authorization", &auth)
        .body(body.boxed_unsync())
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // At the limit: forwarded.
    let req = Request::post(gw.url("/"))
        .header("authorization", &auth)
        .body(full(vec![0u8; 1024]))
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------
// Identity headers.

#[tokio::test]
async fn spoofed_identity_headers_are_stripped() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/open".into()],
        claim_headers: vec![("email".into(), "x-auth-email".parse().unwrap())],
        ..config(Some(&up))
    })
    .await;
    let spoof = |req: http::request::Builder| {
        req.header("x-auth-subject", "admin")
            .header("x-auth-scopes", "admin")
            .header("x-auth-email", "admin@example.com")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "for=10.0.0.1")
    };

    // Authenticated: replaced by the verified identity.
    let t = token("johndoe", "me");
    let req = spoof(Request::get(gw.url("/x")))
        .header("authorization", format!("Bearer {t}"))
        .body(empty())
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::OK
    );
    let h = up.last().headers;
    assert_eq!(
        h.get_all("x-auth-subject").iter().collect::<Vec<_>>(),
        ["johndoe"]
    );
    assert_eq!(
        h.get_all("x-auth-scopes").iter().collect::<Vec<_>>(),
        ["me"]
    );
    assert!(
        h.get("x-auth-email").is_none(),
        "the token has no email claim"
    );
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], gw.addr.to_string());
    assert!(h.get("forwarded").is_none());

    // Public: removed, nothing put in their place.
    let req = spoof(Request::get(gw.url("/open/x")))
        .body(empty())
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::OK
    );
    let h = up.last().headers;
    for name in [
        "x-auth-subject",
        "x-auth-scopes",
        "x-auth-email",
        "forwarded",
    ] {
        assert!(h.get(name).is_none(), "{name} reached the upstream");
    }
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn connection_cannot_remove_or_smuggle_identity_headers() {
    let up = upstream(echo).await;
    let gw = start(config(Some(&up))).await;
    let t = token("johndoe", "me");
    // A client lists the identity headers (and a custom one) in `Connection`:
    // the listed fields are removed as hop-by-hop, *then* the gateway sets the
    // identity, so the upstream still gets it, once.
    let req = Request::get(gw.url("/"))
        .header("authorization", format!("Bearer {t}"))
        .header(
            "connection",
            "keep-alive, X-Auth-Subject, x-auth-scopes, x-custom",
        )
        .header("x-auth-subject", "admin")
        .header("x-custom", "dropped")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("upgrade", "websocket")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .body(empty())
        .unwrap();
    assert_eq!(
        client().request(req).await.unwrap().status(),
        StatusCode::OK
    );
    let h = up.last().headers;
    assert_eq!(
        h.get_all("x-auth-subject").iter().collect::<Vec<_>>(),
        ["johndoe"]
    );
    assert_eq!(h["x-auth-scopes"], "me");
    for name in [
        "x-custom",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(h.get(name).is_none(), "{name} reached the upstream");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_of_the_response_are_removed() {
    let up = upstream(|_req: Request<Incoming>| async move {
        let mut res = text(StatusCode::OK, "ok");
        let h = res.headers_mut();
        h.insert("connection", "x-internal".parse().unwrap());
        h.insert("x-internal", "secret".parse().unwrap());
        h.insert("x-public", "yes".parse().unwrap());
        res
    })
    .await;
    let gw = start(config(Some(&up))).await;
    let res = get(&gw.url("/"), Some(&token("johndoe", ""))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-internal").is_none());
    assert_eq!(res.headers()["x-public"], "yes");
}

// ---------------------------------------------------------------------------
// Upstream failures and pass-through.

#[tokio::test]
async fn unreachable_upstream_is_502() {
    // A port that nothing listens on any more.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let gw = start(Config {
        upstream: Some(parse_upstream(&format!("http://{addr}")).unwrap()),
        ..config(None)
    })
    .await;
    let res = get(&gw.url("/"), Some(&token("johndoe", ""))).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let body = body_string(res).await;
    assert!(body.contains("bad_gateway"), "{body}");
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"gateway_upstream_errors_total{kind="unreachable"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let up = upstream(move |_req: Request<Incoming>| {
        let r = r.clone();
        async move {
            r.notified().await;
            text(StatusCode::OK, "late")
        }
    })
    .await;
    let gw = start(Config {
        upstream_timeout: Duration::from_millis(200),
        ..config(Some(&up))
    })
    .await;
    let res = get(&gw.url("/slow"), Some(&token("johndoe", ""))).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(up.hits(), 1);
    release.notify_waiters();
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"gateway_upstream_errors_total{kind="timeout"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn upstream_401_and_its_challenge_pass_through() {
    let up = upstream(|_req: Request<Incoming>| async move {
        let mut res = text(StatusCode::UNAUTHORIZED, "upstream says no");
        res.headers_mut().insert(
            "www-authenticate",
            r#"Basic realm="upstream", charset="UTF-8""#.parse().unwrap(),
        );
        res
    })
    .await;
    let gw = start(config(Some(&up))).await;
    let res = get(&gw.url("/"), Some(&token("johndoe", ""))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()
            .get_all("www-authenticate")
            .iter()
            .collect::<Vec<_>>(),
        [r#"Basic realm="upstream", charset="UTF-8""#]
    );
    assert_eq!(body_string(res).await, "upstream says no");
    assert_eq!(up.hits(), 1);
}

// ---------------------------------------------------------------------------
// Authentication.

#[tokio::test]
async fn rejected_requests_never_reach_the_upstream() {
    let up = upstream(echo).await;
    let gw = start(Config {
        require_scope: vec![("/admin".into(), vec!["admin".into()])],
        ..config(Some(&up))
    })
    .await;
    let expired = sign_hs256(SECRET, &Claims::new("johndoe").with_exp(now() - 3600)).unwrap();
    let other_key = sign_hs256(
        "another-secret-another-secret-another-secret",
        &Claims::new("johndoe").with_exp(now() + 600),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, StatusCode)> = vec![
        ("/", None, StatusCode::UNAUTHORIZED),
        (
            "/",
            Some("Basic am9objpzZWNyZXQ=".into()),
            StatusCode::UNAUTHORIZED,
        ),
        ("/", Some("Bearer".into()), StatusCode::BAD_REQUEST),
        (
            "/",
            Some("Bearer not.a.jwt".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/",
            Some(format!("Bearer {expired}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/",
            Some(format!("Bearer {other_key}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/admin/x",
            Some(format!("Bearer {}", token("johndoe", "me"))),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (path, auth, status) in &cases {
        let mut req = Request::get(gw.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = client().request(req.body(empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), *status, "{path} {auth:?}");
        assert!(
            res.headers().contains_key("www-authenticate"),
            "{path} {auth:?}"
        );
    }
    // Dot-segments are removed before any rule applies: this is `/admin`.
    let res = raw_get(gw.addr, "/public/../admin").await;
    assert!(res.starts_with("HTTP/1.1 401"), "{res}");
    assert_eq!(up.hits(), 0, "a rejected request reached the upstream");

    let m = metrics(&gw).await;
    for line in [
        r#"gateway_auth_denied_total{reason="missing"} 3"#,
        r#"gateway_auth_denied_total{reason="invalid_request"} 1"#,
        r#"gateway_auth_denied_total{reason="invalid_token"} 3"#,
        r#"gateway_auth_denied_total{reason="insufficient_scope"} 1"#,
        "gateway_auth_allowed_total 0",
    ] {
        assert!(m.contains(line), "{line} not in\n{m}");
    }
}

/// Sends a request line as written, without any client-side normalization.
async fn raw_get(addr: SocketAddr, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn public_paths_skip_authentication() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/docs".into(), "/static/".into()],
        ..config(Some(&up))
    })
    .await;
    for path in [
        "/docs",
        "/docs/",
        "/docs/a/b?c=d",
        "/static/app.js",
        "/%64ocs/x",
    ] {
        let res = get(&gw.url(path), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(up.hits(), 5);
    // Only on segment boundaries.
    for path in ["/docsecret", "/static", "/other"] {
        let res = get(&gw.url(path), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(up.hits(), 5);
    // A token sent to a public path is not forwarded either.
    let res = get(&gw.url("/docs"), Some(&token("johndoe", ""))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = up.last().headers;
    assert!(h.get("authorization").is_none());
    assert!(h.get("x-auth-subject").is_none());
    let m = metrics(&gw).await;
    assert!(m.contains("gateway_public_requests_total 6"), "{m}");
}

#[tokio::test]
async fn scopes_are_required_per_prefix() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/".into()],
        require_scope: vec![
            ("/admin".into(), vec!["admin".into()]),
            ("/admin/users".into(), vec!["admin".into(), "users".into()]),
        ],
        ..config(Some(&up))
    })
    .await;
    let plain = token("johndoe", "me");
    let admin = token("johndoe", "me admin");
    let both = token("johndoe", "admin users");

    // `--public /` makes everything else public.
    assert_eq!(
        get(&gw.url("/anything"), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(up.hits(), 1);

    let res = get(&gw.url("/admin"), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(&gw.url("/admin/x"), Some(&plain)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="admin""#), "{challenge}");
    assert_eq!(
        get(&gw.url("/admin/users/1"), Some(&admin)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(up.hits(), 1);

    assert_eq!(
        get(&gw.url("/admin/x"), Some(&admin)).await.status(),
        StatusCode::OK
    );
    assert_eq!(up.last().headers["x-auth-scopes"], "me admin");
    assert_eq!(
        get(&gw.url("/admin/users/1"), Some(&both)).await.status(),
        StatusCode::OK
    );
    assert_eq!(up.hits(), 3);
}

#[tokio::test]
async fn healthz_needs_no_token_and_metrics_are_on_the_admin_listener_only() {
    let gw = start(config(None)).await;
    let res = get(&gw.url("/healthz"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res).await, "ok\n");
    // The public listener does not serve /metrics: it is an ordinary,
    // protected path there.
    let res = get(&gw.url("/metrics"), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let admin = |path: &str| format!("http://{}{path}", gw.admin);
    for path in ["/healthz", "/readyz"] {
        let res = get(&admin(path), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(body_string(res).await, "ok\n");
    }
    assert_eq!(
        get(&admin("/nope"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = get(&admin("/metrics"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let res = client()
        .request(Request::post(gw.url("/healthz")).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn tutorial_routes_answer_404_and_405() {
    let gw = start(config(None)).await;
    let t = token("johndoe", "");
    let res = get(&gw.url("/users/me/items/"), Some(&t)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let items: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    assert_eq!(
        items,
        serde_json::json!([{ "item_id": "Foo", "owner": "johndoe" }])
    );
    assert_eq!(
        get(&gw.url("/nope"), Some(&t)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&gw.url("/users/me/"), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------------------
// Shutdown.

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (arrived_tx, arrived_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let up = upstream(move |_req: Request<Incoming>| {
        let (r, arrived) = (r.clone(), arrived_tx.clone());
        async move {
            let notified = r.notified();
            let _ = arrived.send(());
            notified.await;
            text(StatusCode::OK, "finished")
        }
    })
    .await;
    let mut gw = start(config(Some(&up))).await;
    let url = gw.url("/long");
    let t = token("johndoe", "");
    let in_flight = tokio::spawn(async move {
        let res = get(&url, Some(&t)).await;
        (res.status(), body_string(res).await)
    });
    let mut arrived_rx = arrived_rx;
    arrived_rx
        .recv()
        .await
        .expect("the request reached the upstream");

    gw.shutdown.take().unwrap().send(()).unwrap();
    // The gateway waits for the request in flight.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!gw.task.is_finished());
    release.notify_waiters();

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "finished");
    let task = &mut gw.task;
    task.await.unwrap().unwrap();
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(gw.addr).await.is_err());
}

// ---------------------------------------------------------------------------
// Keys: an asymmetric signing key, its JWKS, and external issuers.

fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The decoded JOSE header of `token`.
fn jose_header(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let head = token.split('.').next().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn signing_key_type_picks_the_algorithm() {
    use jwt_gateway::config::SigningKeyFile;
    for (file, alg) in [
        ("rsa2048.pem", tower_jwt_auth::Algorithm::RS256),
        ("p256.pem", tower_jwt_auth::Algorithm::ES256),
        ("p384.pem", tower_jwt_auth::Algorithm::ES384),
        ("ed25519.pem", tower_jwt_auth::Algorithm::EdDSA),
    ] {
        let key = SigningKeyFile::load(&key_path(file)).unwrap();
        assert_eq!(key.rotation.signing_key().algorithm(), alg, "{file}");
    }
    let small = SigningKeyFile::load(&key_path("rsa1024.pem")).unwrap_err();
    assert!(small.contains("2048"), "{small}");
    let public = SigningKeyFile::load(&key_path("p256.pub.pem")).unwrap_err();
    assert!(public.contains("not a PEM private key"), "{public}");
    let missing = SigningKeyFile::load(&key_path("nope.pem")).unwrap_err();
    assert!(missing.contains("cannot read"), "{missing}");
}

#[tokio::test]
async fn signing_key_signs_tokens_with_kid_and_publishes_the_jwks() {
    use jwt_gateway::config::SigningKeyFile;
    for (file, alg) in [
        ("ed25519.pem", "EdDSA"),
        ("p256.pem", "ES256"),
        ("rsa2048.pem", "RS256"),
    ] {
        let key = SigningKeyFile::load(&key_path(file)).unwrap();
        let kid = key.rotation.active_kid();
        let up = upstream(|_| async { text(StatusCode::OK, "hello") }).await;
        let gw = start(Config {
            signing_key: Some(key),
            ..config(Some(&up))
        })
        .await;

        let res = login(&gw, "johndoe", "secret").await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
        let t = body["access_token"].as_str().unwrap().to_owned();
        let header = jose_header(&t);
        assert_eq!(header["alg"], alg, "{file}");
        assert_eq!(header["kid"], kid.as_str(), "{file}");

        let res = get(&gw.url("/anything"), Some(&t)).await;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert_eq!(up.hits(), 1);

        // An HS256 token with the old secret no longer passes.
        let res = get(&gw.url("/anything"), Some(&token("johndoe", ""))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{file}");
        assert_eq!(up.hits(), 1);

        // The JWKS needs no token and lists the public key only.
        let res = get(&gw.url("/.well-known/jwks.json"), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/jwk-set+json");
        let jwks: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{jwks}");
        assert_eq!(keys[0]["kid"], kid.as_str());
        assert_eq!(keys[0]["alg"], alg);
        assert!(
            keys[0].get("d").is_none(),
            "private material published: {jwks}"
        );
        assert_eq!(up.hits(), 1, "the JWKS is the gateway's, never forwarded");
    }
}

#[tokio::test]
async fn hs256_gateway_publishes_an_empty_jwks() {
    let gw = start(config(None)).await;
    let res = get(&gw.url("/.well-known/jwks.json"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let jwks: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    assert_eq!(jwks, serde_json::json!({ "keys": [] }));
    let res = login(&gw, "johndoe", "secret").await;
    let body: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
    let header = jose_header(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "HS256");
}

#[cfg(feature = "jwks")]
#[path = "../../tests/it/jwks_server.rs"]
mod jwks_server;

/// Binds 127.0.0.1:0, then serves the gateway built with [`Gateway::load`]
/// (which fetches external keys).
#[cfg(feature = "jwks")]
async fn start_loaded(config: Config) -> Running {
    run(Gateway::load(&config).await.expect("valid config"), &config).await
}

#[cfg(feature = "jwks")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_issuer_tokens_pass_and_unknown_issuers_never_reach_the_upstream() {
    use tower_jwt_auth::rotation::{KeyPair, KeyRotation};
    use tower_jwt_auth::Algorithm;

    let pem = std::fs::read(key_path("p256.pem")).unwrap();
    let idp = jwks_server::JwksServer::start(KeyRotation::new(
        KeyPair::ec_pem(Algorithm::ES256, pem).unwrap(),
    ))
    .await;
    let idp_iss = idp.base();
    let up = upstream(|_| async { text(StatusCode::OK, "hello") }).await;
    let own_key = jwt_gateway::config::SigningKeyFile::load(&key_path("ed25519.pem")).unwrap();
    for signing_key in [None, Some(own_key)] {
        let asymmetric = signing_key.is_some();
        let gw = start_loaded(Config {
            issuer: Some("https://gateway.test".to_owned()),
            jwks_urls: vec![(idp_iss.clone(), idp.jwks_url())],
            signing_key,
            ..config(Some(&up))
        })
        .await;
        let before = up.hits();

        // A token of the external issuer, for a user the gateway knows.
        let claims = Claims::new("johndoe")
            .with_exp(now() + 600)
            .with_iss(&idp_iss);
        let external = idp.state.rotation.sign(&claims).unwrap();
        let res = get(&gw.url("/x"), Some(&external)).await;
        assert_eq!(res.status(), StatusCode::OK, "asymmetric={asymmetric}");
        assert_eq!(up.hits(), before + 1);

        // The provider's users are its own: a subject the users file lacks passes.
        let carol = idp
            .state
            .rotation
            .sign(
                &Claims::new("carol")
                    .with_exp(now() + 600)
                    .with_iss(&idp_iss),
            )
            .unwrap();
        let res = get(&gw.url("/x"), Some(&carol)).await;
        assert_eq!(res.status(), StatusCode::OK, "asymmetric={asymmetric}");
        assert_eq!(up.hits(), before + 2);

        // The same key, another issuer: refused before the upstream.
        let other = idp
            .state
            .rotation
            .sign(&claims.clone().with_iss("https://unknown.test"))
            .unwrap();
        let res = get(&gw.url("/x"), Some(&other)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(up.hits(), before + 2);

        // The external key cannot pass for the gateway's own issuer.
        let forged = idp
            .state
            .rotation
            .sign(&claims.clone().with_iss("https://gateway.test"))
            .unwrap();
        let res = get(&gw.url("/x"), Some(&forged)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(up.hits(), before + 2);

        // The gateway's own tokens still pass.
        let res = login(&gw, "johndoe", "secret").await;
        let body: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
        let own = body["access_token"].as_str().unwrap().to_owned();
        let res = get(&gw.url("/x"), Some(&own)).await;
        assert_eq!(res.status(), StatusCode::OK, "asymmetric={asymmetric}");
        assert_eq!(up.hits(), before + 3);

        // With an asymmetric key, the JWKS lists it (and not the IdP's).
        let res = get(&gw.url("/.well-known/jwks.json"), None).await;
        let jwks: serde_json::Value = serde_json::from_str(&body_string(res).await).unwrap();
        let n = jwks["keys"].as_array().unwrap().len();
        assert_eq!(n, usize::from(asymmetric), "{jwks}");

        // The admin listener counts the fetches and shows the keys' age.
        let text = metrics(&gw).await;
        let fetched =
            format!("gateway_jwks_fetches_total{{issuer=\"{idp_iss}\",outcome=\"success\"}} ");
        let line = text.lines().find(|l| l.starts_with(&fetched));
        let n: u64 = line
            .and_then(|l| l[fetched.len()..].parse().ok())
            .unwrap_or(0);
        assert!(n >= 1, "{text}");
        let age = format!("gateway_jwks_key_age_seconds{{issuer=\"{idp_iss}\"}} ");
        assert!(text.lines().any(|l| l.starts_with(&age)), "{text}");
    }
}

// ---------------------------------------------------------------------------
// Hardening (issue 9): path confusion, spoofed identity, Host, bodies.

/// Sends `head` (request line and headers, without the blank line) and
/// `body` raw, and reads the whole answer.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{head}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn no_encoding_of_a_path_reaches_a_guarded_prefix_unguarded() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/public".into()],
        require_scope: vec![("/items".into(), vec!["items".into()])],
        ..config(Some(&up))
    })
    .await;
    let no_items = token("johndoe", "me");
    let refused = [
        "/public/..%2fitems/secret",
        "/public/%2e%2e%2fadmin/secret",
        "/public/..;/items",
        "/public/..\\items",
        "/public/..%5citems",
        "/public/..%5Citems",
        "/public/..%252fitems",
        "/public/%252e%252e/items",
        "/public/..%c0%afitems",
        "/public/..%ef%bc%8fitems",
        "/public/%ef%bc%8e%ef%bc%8e/items",
        "/public/..%e2%88%95items",
        "/public/x%00",
        "/public/x%3b/../../items",
        "/items%2f42",
        "//items",
        "/items;x",
        "/items\\",
        "/x/..%2fitems",
        "/public/%zz",
    ];
    for path in refused {
        for auth in [None, Some(no_items.as_str())] {
            let mut head = format!("GET {path} HTTP/1.1\r\nhost: gw");
            if let Some(t) = auth {
                head.push_str(&format!("\r\nauthorization: Bearer {t}"));
            }
            let res = raw(gw.addr, &head, b"").await;
            assert!(res.starts_with("HTTP/1.1 400"), "{path}: {res}");
        }
    }
    assert_eq!(up.hits(), 0, "a refused path reached the upstream");

    // What the rules see is what the upstream gets.
    for (path, forwarded) in [
        ("/public/a/../b", "/public/b"),
        ("/public/%61", "/public/a"),
        ("/public/x%20y?q=%2F", "/public/x%20y?q=%2F"),
    ] {
        let res = raw(gw.addr, &format!("GET {path} HTTP/1.1\r\nhost: gw"), b"").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{path}: {res}");
        assert_eq!(up.last().uri.to_string(), forwarded, "{path}");
    }
    // A dot-segment walk out of /public lands on /items, and needs its scope.
    let res = raw(
        gw.addr,
        "GET /public/../items/secret HTTP/1.1\r\nhost: gw",
        b"",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 401"), "{res}");
    let hits = up.hits();
    let res = raw(
        gw.addr,
        &format!(
            "GET /public/../items/secret HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {no_items}"
        ),
        b"",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 403"), "{res}");
    assert_eq!(up.hits(), hits);
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"gateway_client_errors_total{kind="bad_path"} 40"#),
        "{m}"
    );
}

#[tokio::test]
async fn merged_slashes_are_matched_as_forwarded() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/public".into()],
        merge_slashes: true,
        ..config(Some(&up))
    })
    .await;
    let res = raw(gw.addr, "GET //public//a HTTP/1.1\r\nhost: gw", b"").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert_eq!(up.last().uri.to_string(), "/public/a");
    let res = raw(gw.addr, "GET //items HTTP/1.1\r\nhost: gw", b"").await;
    assert!(res.starts_with("HTTP/1.1 401"), "{res}");
}

#[tokio::test]
async fn client_identity_and_forwarding_headers_never_reach_the_upstream() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/public".into()],
        ..config(Some(&up))
    })
    .await;
    let spoofed = [
        ("X_Auth_Subject", "admin"),
        ("X_Auth_Scopes", "admin items"),
        ("X-Auth-Issuer", "https://evil"),
        ("x_auth_issuer", "https://evil"),
        ("X-Real-IP", "10.0.0.1"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Prefix", "/admin"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil"),
        ("X-Original-URL", "/admin"),
        ("Forwarded", "for=10.0.0.1;proto=https"),
        ("Some_Header", "x"),
    ];
    for path in ["/public/x", "/x"] {
        let mut head = format!("GET {path} HTTP/1.1\r\nhost: gw");
        for (k, v) in spoofed {
            head.push_str(&format!("\r\n{k}: {v}"));
        }
        if path == "/x" {
            head.push_str(&format!(
                "\r\nauthorization: Bearer {}",
                token("johndoe", "me")
            ));
        }
        let res = raw(gw.addr, &head, b"").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        let seen = up.last().headers;
        for name in seen.keys() {
            assert!(!name.as_str().contains('_'), "{path}: {name} forwarded");
        }
        for (name, value) in [
            ("x-forwarded-for", "127.0.0.1"),
            ("x-real-ip", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "gw"),
        ] {
            assert_eq!(seen[name], value, "{path}: {name}");
        }
        for name in [
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-original-url",
            "forwarded",
            "x-auth-issuer",
        ] {
            assert!(!seen.contains_key(name), "{path}: {name} forwarded");
        }
        match path {
            "/x" => assert_eq!(seen["x-auth-subject"], "johndoe"),
            _ => assert!(!seen.contains_key("x-auth-subject")),
        }
    }
}

#[tokio::test]
async fn a_trusted_proxy_keeps_its_forwarding_headers() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/public".into()],
        trusted_proxies: jwt_gateway::config::TrustedProxies(vec!["127.0.0.0/8".parse().unwrap()]),
        ..config(Some(&up))
    })
    .await;
    let head = "GET /public/x HTTP/1.1\r\nhost: gw\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\nX_Auth_Subject: admin";
    let res = raw(gw.addr, head, b"").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let seen = up.last().headers;
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert!(!seen.contains_key("x_auth_subject"));
}

#[tokio::test]
async fn host_must_be_one_and_valid() {
    let up = upstream(echo).await;
    let gw = start(Config {
        public: vec!["/".into()],
        ..config(Some(&up))
    })
    .await;
    for head in [
        "GET / HTTP/1.1",
        "GET / HTTP/1.1\r\nhost: a\r\nhost: b",
        "GET / HTTP/1.1\r\nhost: user@gw",
        "GET / HTTP/1.1\r\nhost: gw/x",
        "GET / HTTP/1.1\r\nhost: gw:99999",
        "GET / HTTP/1.1\r\nhost: gw:8x",
        "GET / HTTP/1.1\r\nhost: [::1",
        "GET / HTTP/1.1\r\nhost: ",
    ] {
        let res = raw(gw.addr, head, b"").await;
        assert!(res.starts_with("HTTP/1.1 400"), "{head:?}: {res}");
    }
    assert_eq!(up.hits(), 0);
    let res = raw(gw.addr, "GET / HTTP/1.0", b"").await;
    assert!(res.starts_with("HTTP/1.0 200"), "{res}");
    // Absolute form: its authority wins over Host (RFC 9112 §3.2.2).
    let res = raw(
        gw.addr,
        "GET http://real:8080/a HTTP/1.1\r\nhost: other",
        b"",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert_eq!(up.last().headers["x-forwarded-host"], "real:8080");
}

#[tokio::test]
async fn a_malformed_body_is_a_client_error_and_a_trickle_times_out() {
    // An upstream that reads the whole body before it answers.
    let up = upstream(|req: Request<Incoming>| async move {
        match req.into_body().collect().await {
            Ok(_) => text(StatusCode::OK, "read"),
            Err(_) => text(StatusCode::BAD_REQUEST, "cut"),
        }
    })
    .await;
    let gw = start(Config {
        public: vec!["/".into()],
        body_timeout: Duration::from_millis(300),
        ..config(Some(&up))
    })
    .await;
    let res = raw(
        gw.addr,
        "POST /x HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked",
        b"zz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    // A body that never completes: 408 once the deadline passes.
    let res = raw(
        gw.addr,
        "POST /x HTTP/1.1\r\nhost: gw\r\ncontent-length: 100",
        b"only a part",
    );
    let res = tokio::time::timeout(Duration::from_secs(20), res)
        .await
        .unwrap();
    assert!(res.starts_with("HTTP/1.1 408"), "{res}");
    // The token endpoint too.
    let res = raw(
        gw.addr,
        "POST /token HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100",
        b"grant_type=pass",
    );
    let res = tokio::time::timeout(Duration::from_secs(20), res)
        .await
        .unwrap();
    assert!(res.starts_with("HTTP/1.1 408"), "{res}");
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"gateway_client_errors_total{kind="body_malformed"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"gateway_client_errors_total{kind="body_timeout"} 2"#),
        "{m}"
    );
    assert!(!m.contains("gateway_upstream_errors_total{"), "{m}");
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let gw = start(Config {
        max_connections: 1,
        ..config(None)
    })
    .await;
    // One idle connection holds the only permit.
    let _held = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = raw(gw.addr, "GET /healthz HTTP/1.1\r\nhost: gw", b"").await;
    assert!(res.starts_with("HTTP/1.1 503"), "{res}");
    assert!(res.contains("retry-after: 1"), "{res}");
}

/// Logs in through `gw`, claiming the client `xff` in `X-Forwarded-For`.
async fn login_as(gw: &Running, xff: &str, username: &str, password: &str) -> StatusCode {
    let form = format!("grant_type=password&username={username}&password={password}");
    let req = Request::post(gw.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", xff)
        .body(full(form))
        .unwrap();
    client().request(req).await.unwrap().status()
}

#[tokio::test]
async fn failing_clients_lock_themselves_out_not_the_owner() {
    // Behind a trusted proxy (the test client on 127.0.0.1), the client is the
    // address the proxy appended.
    let gw = start(Config {
        trusted_proxies: jwt_gateway::config::TrustedProxies(vec!["127.0.0.0/8".parse().unwrap()]),
        ..config(None)
    })
    .await;
    for _ in 0..10 {
        let status = login_as(&gw, "192.0.2.66", "johndoe", "wrong").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let attacker = login_as(&gw, "192.0.2.66", "johndoe", "secret").await;
    assert_eq!(attacker, StatusCode::TOO_MANY_REQUESTS);
    let owner = login_as(&gw, "198.51.100.7", "johndoe", "secret").await;
    assert_eq!(owner, StatusCode::OK);

    // Without a trusted proxy, X-Forwarded-For is the client's word: a new
    // address per guess does not escape the lock.
    let gw = start(config(None)).await;
    for i in 0..10 {
        let status = login_as(&gw, &format!("192.0.2.{i}"), "johndoe", "wrong").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let status = login_as(&gw, "192.0.2.200", "johndoe", "secret").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
