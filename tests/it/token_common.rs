//! Shared helpers for the token endpoint tests: a real hyper server on
//! 127.0.0.1:0, a hyper client, fixtures.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};
use tower_jwt_auth::token::{
    Lookup, MemoryStore, PasswordHasher, StoreError, StoredUser, Throttle, TokenEndpoint,
    TokenEndpointBuilder, UserProfile, UserStore,
};
use tower_jwt_auth::{Algorithm, Claims, JwtValidator, SigningKey};

/// The FastAPI tutorial's secret.
pub const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
/// The FastAPI tutorial's hash of `secret` (pwdlib, m=64 MiB, t=3, p=4).
pub const TUTORIAL_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// The form content type.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// A cheap hasher for tests that are not about parameters (8 MiB, t=1, p=1).
pub fn fast_hasher() -> PasswordHasher {
    PasswordHasher::builder()
        .params(8192, 1, 1)
        .unwrap()
        .build()
}

/// A hash of `password` with [`fast_hasher`]'s parameters.
pub fn hash(password: &str) -> String {
    fast_hasher().hash_blocking(password.as_bytes()).unwrap()
}

pub fn key() -> SigningKey {
    SigningKey::hmac(Algorithm::HS256, SECRET).unwrap()
}

pub fn validator() -> JwtValidator {
    JwtValidator::hs256(SECRET).unwrap()
}

/// The tutorial's johndoe (password `secret`), an `alice` (password
/// `wonderland`, scopes `me items`) and a disabled `bob` (password `builder`).
pub fn store() -> MemoryStore {
    MemoryStore::new()
        .with_user(StoredUser::from_profile(
            UserProfile::new("johndoe")
                .with_email("johndoe@example.com")
                .with_full_name("John Doe"),
            hash("secret"),
        ))
        .with_user(
            StoredUser::from_profile(
                UserProfile::new("alice").with_full_name("Alice Chains"),
                hash("wonderland"),
            )
            .with_scopes(["me", "items"]),
        )
        .with_user(StoredUser::from_profile(
            UserProfile::new("bob").with_disabled(true),
            hash("builder"),
        ))
}

/// An endpoint builder on `store` with the fast hasher and no throttle.
pub fn builder<S>(store: S) -> TokenEndpointBuilder<S> {
    TokenEndpoint::builder(store, key())
        .hasher(fast_hasher())
        .throttle(Throttle::disabled())
}

/// A store wrapper that counts lookups, and can be made to fail or to answer
/// only asynchronously.
#[derive(Clone, Debug)]
pub struct Counting<S> {
    pub inner: S,
    pub finds: Arc<AtomicUsize>,
    pub fail: bool,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            finds: Arc::default(),
            fail: false,
        }
    }

    pub fn failing(inner: S) -> Self {
        Self {
            fail: true,
            ..Self::new(inner)
        }
    }

    pub fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }
}

impl<S: UserStore + Clone> UserStore for Counting<S> {
    type Profile = S::Profile;

    async fn find(&self, username: &str) -> Lookup<S::Profile> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(StoreError::new("database down"));
        }
        // Yield once, like a real database call.
        tokio::task::yield_now().await;
        self.inner.find(username).await
    }

    async fn update_hash(&self, username: &str, new_hash: &str) -> Result<(), StoreError> {
        self.inner.update_hash(username, new_hash).await
    }
}

pub type ResBody = UnsyncBoxBody<Bytes, Infallible>;
pub type Svc = BoxCloneSyncService<Request<Incoming>, Response<ResBody>, Infallible>;

/// Boxes a service whose responses have an infallible `Bytes` body.
pub fn boxed<S, B>(service: S) -> Svc
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    BoxCloneSyncService::new(service.map_response(|r| r.map(BodyExt::boxed_unsync)))
}

/// Routes by exact path; anything else is 404.
pub fn router(routes: Vec<(&'static str, Svc)>) -> Svc {
    let routes = Arc::new(routes);
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<Incoming>| {
        let routes = routes.clone();
        async move {
            let found = routes
                .iter()
                .find(|(path, _)| *path == req.uri().path())
                .map(|(_, svc)| svc.clone());
            match found {
                Some(svc) => svc.oneshot(req).await,
                None => {
                    let mut res = Response::new(Full::new(Bytes::new()).boxed_unsync());
                    *res.status_mut() = StatusCode::NOT_FOUND;
                    Ok(res)
                }
            }
        }
    }))
}

/// A real HTTP/1 server on 127.0.0.1:0; it stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Serves `service`, putting each connection's peer address into the request
/// extensions as a `SocketAddr` (what the endpoint's per-IP throttle reads).
pub async fn serve(service: Svc) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                },
                _ = &mut stopped => break,
            };
            let service = service.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(peer);
                    service.clone().oneshot(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    TestServer { addr, _stop: stop }
}

/// Serves a token endpoint alone at `/token`.
pub async fn serve_endpoint<S: UserStore>(endpoint: TokenEndpoint<S>) -> TestServer {
    serve(router(vec![("/token", boxed(endpoint))])).await
}

/// A collected response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts an RFC 6749 §5.2 error answer with the no-store headers.
    pub fn assert_error(&self, status: StatusCode, error: &str) {
        assert_eq!(self.status, status, "{self:?}");
        self.assert_no_store();
        assert_eq!(self.json()["error"], error, "{self:?}");
        assert!(self.json()["error_description"].is_string(), "{self:?}");
    }

    /// Asserts the headers that every answer of the endpoint carries.
    pub fn assert_no_store(&self) {
        assert_eq!(self.header("cache-control"), Some("no-store"), "{self:?}");
        assert_eq!(self.header("pragma"), Some("no-cache"), "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
    }

    /// The access token of a success answer.
    pub fn token(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        self.json()["access_token"].as_str().unwrap().to_owned()
    }
}

pub type ReqBody = BoxBody<Bytes, Infallible>;

/// A hyper client.
pub fn client() -> Client<HttpConnector, ReqBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` and collects the answer.
pub async fn send(req: Request<ReqBody>) -> Answer {
    let res = client().request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn full(body: impl Into<Bytes>) -> ReqBody {
    Full::new(body.into()).boxed()
}

/// POSTs a raw form body to `/token`.
pub async fn post_form(server: &TestServer, body: impl Into<Bytes>) -> Answer {
    let req = Request::post(server.url("/token"))
        .header("content-type", FORM)
        .body(full(body))
        .unwrap();
    send(req).await
}

/// A password-grant form, encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Logs in with the password grant.
pub async fn login(server: &TestServer, username: &str, password: &str) -> Answer {
    post_form(
        server,
        form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ]),
    )
    .await
}

/// GETs `path` with a bearer token.
pub async fn get_with_token(server: &TestServer, path: &str, token: &str) -> Answer {
    let req = Request::get(server.url(path))
        .header("authorization", format!("Bearer {token}"))
        .body(full(Bytes::new()))
        .unwrap();
    send(req).await
}

/// Decodes a token's header and claims without checking the signature.
pub fn decode_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut it = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

/// Validates a token with the tutorial secret.
pub fn claims(token: &str) -> Claims {
    validator().validate::<Claims>(token).unwrap()
}

/// A request body that yields `chunks` chunks of `size` bytes and declares no
/// length (sent chunked).
pub struct Chunked {
    pub left: usize,
    pub size: usize,
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        let chunk = Bytes::from(vec![b'a'; self.size]);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Python with PyJWT and pwdlib, or `None` (after printing why) when they are
/// missing outside CI. In CI (`CI` set), missing modules fail the test.
pub fn python() -> Option<&'static str> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jwt, pwdlib"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3");
    }
    let msg = "python3 with `pyjwt` and `pwdlib[argon2]` is required for the interop tests: \
               pip install pyjwt 'pwdlib[argon2]'";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
    None
}

/// Runs a Python snippet with `args`, returning its stdout (trimmed).
pub fn run_python(python: &str, code: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
